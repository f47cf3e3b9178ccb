/* SPDX-License-Identifier: MIT */
/*
 * control_format.h — the control channel's wire format, shared by the shim (control.c) and
 * `perfshim ctl` (analyzer/ctl.c). docs/security.md, "The control channel", says who may
 * connect; docs/analyzer.md documents the command.
 *
 * One request per connection: the client sends one fixed-size request, the shim answers with
 * one fixed-size reply and closes. Little-endian (the host's: client and shim run on the same
 * machine). No request names a file: traces go where PERFSHIM_OUTPUT said at start.
 */
#ifndef PERFSHIM_CONTROL_FORMAT_H
#define PERFSHIM_CONTROL_FORMAT_H

#include <stdint.h>

#define PS_CTL_MAGIC 0x4c544350u /* "PCTL" */
#define PS_CTL_VERSION 1u
#define PS_CTL_TEXT 1016 /* reply text bytes, NUL-terminated */

/* The socket: <directory>/<pid>.sock, where the directory is $XDG_RUNTIME_DIR/perfshim when
 * XDG_RUNTIME_DIR names a directory of the process's user, else /tmp/perfshim-<euid>. */
#define PS_CTL_DIR_XDG "perfshim"
#define PS_CTL_DIR_TMP "/tmp/perfshim-"
#define PS_CTL_SUFFIX ".sock"

enum ps_ctl_cmd {
    PS_CTL_STATUS = 1,   /* mode, section, interval, trace path, live heap, RSS */
    PS_CTL_START = 2,    /* start tracking: a new section (a new trace file after a stop) */
    PS_CTL_STOP = 3,     /* stop tracking: the section's last snapshot, END, file closed */
    PS_CTL_DUMP = 4,     /* a snapshot now (reason dump) */
    PS_CTL_SAMPLE = 5,   /* arg: mean sampling interval in bytes; 0 = full tracking */
    PS_CTL_INTERVAL = 6, /* word: PERFSHIM_INTERVAL ("0" = off, "250ms", "10s", ...) */
    PS_CTL_CMD_MAX = 6
};

typedef struct ps_ctl_request_s {
    uint32_t magic;    /* PS_CTL_MAGIC */
    uint32_t version;  /* PS_CTL_VERSION */
    uint32_t cmd;      /* enum ps_ctl_cmd */
    uint32_t reserved; /* 0 */
    uint64_t arg;      /* PS_CTL_SAMPLE: bytes */
    char word[16];     /* PS_CTL_INTERVAL: the duration as PERFSHIM_INTERVAL takes it
                          ("10s"), parsed by the shim's own parser; NUL-terminated */
} ps_ctl_request_t;    /* 40 bytes */

enum ps_ctl_status {
    PS_CTL_OK = 0,
    PS_CTL_REFUSED = 1,     /* not possible now (already started, stopped, ...): text says why */
    PS_CTL_INVALID = 2,     /* malformed request or argument out of range */
    PS_CTL_UNAVAILABLE = 3, /* not in this build (text says what) */
    PS_CTL_FAILED = 4       /* tried and failed (the trace could not be written, ...) */
};

typedef struct ps_ctl_reply_s {
    uint32_t magic;         /* PS_CTL_MAGIC */
    uint32_t status;        /* enum ps_ctl_status */
    char text[PS_CTL_TEXT]; /* "key=value" lines for status; a sentence otherwise */
} ps_ctl_reply_t;           /* 1024 bytes */

#endif /* PERFSHIM_CONTROL_FORMAT_H */
