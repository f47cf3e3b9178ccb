/* SPDX-License-Identifier: MIT */
/*
 * sizeclass.h — the pool's size classes: the table, the size -> class rule, and the slab
 * geometry of each class. Pure constants and arithmetic; pool.c builds its lookup tables from
 * these, tests/unit/shim/check_pool.c checks them, docs/pool.md explains them.
 *
 * Classes are 16 bytes apart up to 128, then four per doubling (128 160 192 224 256 320 ...)
 * up to PS_POOL_LIMIT (256 KiB). Every class is a multiple of 16, so every block is 16-aligned,
 * and a request n gets a block of at most n + max(15, n/4) bytes (internal waste < 20% of the
 * block above 128 bytes). Class 0 means "not pooled". Three slab kinds: 64 KiB slabs for classes
 * up to 2 KiB, 256 KiB up to 32 KiB ("small" and "big"), 2 MiB above ("medium" classes): every
 * slab holds at least 8 blocks and wastes at most 1/16 of itself at its tail.
 */
#ifndef PS_SIZECLASS_H
#define PS_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#define PS_POOL_LIMIT 262144u    /* largest block any configuration can pool (bytes) */
#define PS_POOL_NCLASS 53        /* classes 1..52 plus 0 = "not pooled" */
#define PS_POOL_TABLE_MAX 32768u /* requests up to here find their class in a byte table */
#define PS_POOL_UNIT_SHIFT 16    /* the reservation is cut into 64 KiB units */
#define PS_POOL_UNIT ((size_t)1 << PS_POOL_UNIT_SHIFT)
#define PS_POOL_SMALL_MAX                                                                          \
    2048                        /* classes up to here live in 1-unit slabs, above in 4-unit slabs  \
                                 */
#define PS_POOL_BIG_UNITS 4     /* units in a slab of a class above PS_POOL_SMALL_MAX */
#define PS_POOL_BIG_MAX 32768   /* classes up to here live in 4-unit slabs, above in 32-unit ones */
#define PS_POOL_MEDIUM_UNITS 32 /* units in a slab of a class above PS_POOL_BIG_MAX (2 MiB) */
#define PS_POOL_RECIP_SHIFT 40  /* block index = (offset in slab * recip) >> 40, no division */

/* Block size of each class (bytes). */
static const uint32_t ps_sizeclass_size[PS_POOL_NCLASS] = {
    0,     16,    32,    48,     64,     80,     96,     112,    128,   160,   192,
    224,   256,   320,   384,    448,    512,    640,    768,    896,   1024,  1280,
    1536,  1792,  2048,  2560,   3072,   3584,   4096,   5120,   6144,  7168,  8192,
    10240, 12288, 14336, 16384,  20480,  24576,  28672,  32768,  40960, 49152, 57344,
    65536, 81920, 98304, 114688, 131072, 163840, 196608, 229376, 262144};

/* The smallest class whose blocks hold n bytes (n <= PS_POOL_LIMIT), by arithmetic. The
 * allocator itself uses a byte table built from this (pool.c); tests compare the two. */
static inline unsigned ps_sizeclass_of(size_t n)
{
    if (n <= 128)
        return n == 0 ? 1 : (unsigned)((n + 15) >> 4);
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 2^k < n */
    size_t step = (size_t)1 << (k - 2);
    unsigned j = (unsigned)((n - ((size_t)1 << k) + step - 1) >> (k - 2)); /* 1..4 */
    return 8 + 4 * (k - 7) + j;
}

/* The smallest request the allocator's byte table gives class c (c's band starts just above
 * the class below). Above PS_POOL_LOOSE_MIN a request that would leave 1/8 of its block or
 * more unused is not pooled: the band's lower part goes to the C library, whose heap holds it
 * with 8 bytes of overhead. That is the common "power of two plus a header" request (sqlite3's
 * page cache asks 4104 bytes, which class 5120 would hold at 25% waste: 0.5 MB over glibc on
 * a 6 MB process). Only the table (requests up to PS_POOL_TABLE_MAX) applies it: above, glibc
 * would serve from mmap. docs/pool.md, "Requests left to the C library". */
#define PS_POOL_LOOSE_MIN 2048u
static inline size_t ps_sizeclass_pooled_from(unsigned c)
{
    size_t size = ps_sizeclass_size[c], below = ps_sizeclass_size[c - 1] + 1;
    size_t tight = size - size / 8 + 1;
    return size > PS_POOL_LOOSE_MIN && size <= PS_POOL_TABLE_MAX && tight > below ? tight : below;
}

/* Units (64 KiB) in a slab of class c. */
static inline unsigned ps_sizeclass_units(unsigned c)
{
    return ps_sizeclass_size[c] <= PS_POOL_SMALL_MAX ? 1u
           : ps_sizeclass_size[c] <= PS_POOL_BIG_MAX ? PS_POOL_BIG_UNITS
                                                     : PS_POOL_MEDIUM_UNITS;
}

/* Blocks in a slab of class c. */
static inline uint32_t ps_sizeclass_capacity(unsigned c)
{
    return (uint32_t)((ps_sizeclass_units(c) * PS_POOL_UNIT) / ps_sizeclass_size[c]);
}

/* Multiplier for the division-free block index: floor(off / size) == (off * r) >> 40 for
 * every offset inside a slab (exact because slab bytes * size <= 2^21 * 2^18 < 2^40, see
 * docs/pool.md). */
static inline uint64_t ps_sizeclass_recip(unsigned c)
{
    return ((uint64_t)1 << PS_POOL_RECIP_SHIFT) / ps_sizeclass_size[c] + 1;
}

#endif /* PS_SIZECLASS_H */
