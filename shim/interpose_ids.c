/* SPDX-License-Identifier: MIT */
/*
 * interpose_ids.c — setuid, seteuid, setreuid and setresuid, exported: a server that drops its
 * privileges (nginx's workers, memcached -u) must still be able to write its trace, so before
 * the effective uid changes control.c gives the trace to the new user and keeps it open
 * (docs/security.md, "Servers that drop privileges"). chroot, exported for the same reason: a
 * server that confines itself (haproxy's `chroot`, unbound's, named -t) could no longer reach
 * its trace's path, so control.c opens the trace before the root changes and keeps it open.
 * Only forwards.
 */
#include "internal.h"

#include <unistd.h>

#define PS_API PS_EXPORT

PS_API int setuid(uid_t uid)
{
    return ps_control_setuid(PS_SETUID, uid, uid, uid);
}

PS_API int seteuid(uid_t euid)
{
    return ps_control_setuid(PS_SETEUID, euid, euid, euid);
}

PS_API int setreuid(uid_t ruid, uid_t euid)
{
    return ps_control_setuid(PS_SETREUID, ruid, euid, (uid_t)-1);
}

PS_API int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    return ps_control_setuid(PS_SETRESUID, ruid, euid, suid);
}

PS_API int chroot(const char *path)
{
    return ps_control_chroot(path);
}
