/* SPDX-License-Identifier: MIT */
/*
 * outbuf.h — bytes put straight into a stdio stream's buffer. The reports write millions of
 * small pieces (a full leaks report of a compile: 2.6M frame lines, 5M JSON pieces); fwrite's
 * call and its checks cost more than the copy of each.
 */
#ifndef PERFSHIM_ANALYZER_OUTBUF_H
#define PERFSHIM_ANALYZER_OUTBUF_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Room for n bytes in a stream's buffer, reserved for the caller to fill, or NULL (then fwrite),
 * as glibc's putc_unlocked stores a byte (its struct_FILE.h: room while _IO_write_ptr <
 * _IO_write_end, which an unbuffered stream, or one not in write mode, never has; a
 * line-buffered one keeps _IO_write_end at the buffer's start, behind _IO_write_ptr). The
 * analyzer has one thread. */
static inline char *pa_out_room(FILE *f, size_t n)
{
#ifdef __GLIBC__
    ptrdiff_t room = f->_IO_write_end - f->_IO_write_ptr; /* negative when line-buffered */
    if (room > 0 && (size_t)room >= n) {
        char *at = f->_IO_write_ptr;
        f->_IO_write_ptr += n;
        return at;
    }
#else
    (void)f, (void)n;
#endif
    return NULL; /* no room: fwrite */
}

/* Gives back the last n bytes of the room pa_out_room reserved last (not written). */
static inline void pa_out_unused(FILE *f, size_t n)
{
#ifdef __GLIBC__
    f->_IO_write_ptr -= n;
#else
    (void)f, (void)n;
#endif
}

/* The n bytes at s: copied into the buffer when it has room, else through fwrite. */
static inline void pa_out_put(FILE *f, const void *s, size_t n)
{
    char *at = pa_out_room(f, n);
    if (at)
        memcpy(at, s, n);
    else
        fwrite(s, 1, n, f);
}

#endif
