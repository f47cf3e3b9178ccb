#!/bin/sh
# SPDX-License-Identifier: MIT
# The core of the shim (perfshim_core, which the unit tests link) defines no libc, pthread or
# other outside name: every global symbol of its objects starts with ps_, and libperfshim.so
# exports none of those. So every exported function is in one of shim/interpose*.c, and a
# program linked with the core does not interpose on itself (under ThreadSanitizer, such a
# definition would replace TSan's interceptor of that function).
#
# And os.h is the only door to system calls: no core object but os_linux.c's calls a system
# call's wrapper (the list below), except unw_loader.c's read, write and close, which it hands
# to libunwind in place of its own (docs/architecture.md, "System calls").
# Usage: check_core_symbols.sh NM LIBPERFSHIM OBJECT... (an argument may be a ;-list)
set -u
nm=$1 lib=$2
shift 2
bad=0
count=0
syscalls=" open openat creat read readv pread pread64 write writev pwrite pwrite64 close lseek fstat
 stat lstat fstatat fcntl dup dup2 dup3 pipe pipe2 unlink rename ftruncate fsync mmap munmap
 mremap mprotect madvise mincore getpid getppid gettid getuid geteuid getgid getegid readlink
 getcwd getrlimit setrlimit getrusage prctl syscall sched_yield nanosleep clock_gettime
 clock_nanosleep timer_create timer_settime timer_delete setitimer raise kill tgkill
 process_vm_readv sysconf getauxval uname socket connect send sendto sendmsg "
for arg in "$@"; do
    oldifs=$IFS
    IFS=';'
    set -f
    for obj in $arg; do
        IFS=$oldifs
        [ -n "$obj" ] || continue
        count=$((count + 1))
        syms=$("$nm" -g --defined-only "$obj") || { echo "nm failed on $obj"; exit 1; }
        out=$(printf '%s\n' "$syms" | awk 'NF >= 3 && $3 !~ /^ps_/ { print $3 }')
        if [ -n "$out" ]; then
            echo "$obj defines symbols outside ps_ (move exported functions to shim/interpose_*.c):"
            printf '  %s\n' $out
            bad=1
        fi
        case $obj in
        */os_linux.c.o) continue ;;
        */unw_loader.c.o) allowed=" read write close " ;;
        *) allowed=" " ;;
        esac
        for u in $("$nm" -u "$obj" | awk '{ print $NF }'); do
            case $syscalls in *" $u "*) ;; *) continue ;; esac
            case $allowed in *" $u "*) continue ;; esac
            echo "$obj calls $u directly: go through os.h (ps_os_*)"
            bad=1
        done
    done
    IFS=$oldifs
    set +f
done
if [ "$count" -lt 10 ]; then
    echo "only $count core objects given: the test is misconfigured"
    exit 1
fi
exported=$("$nm" -D --defined-only "$lib" | awk 'NF >= 3 && $3 ~ /^ps_/ { print $3 }')
if [ -n "$exported" ]; then
    echo "$lib exports internal symbols:"
    printf '  %s\n' $exported
    bad=1
fi
for want in malloc pthread_mutex_lock sem_post pthread_create sigaction _exit; do
    "$nm" -D --defined-only "$lib" | awk '{ print $3 }' | grep -qx "$want" ||
        { echo "$lib does not export $want"; bad=1; }
done
[ $bad -eq 0 ] && echo "$count core objects: only ps_ symbols; $lib exports no ps_ symbol"
exit $bad
