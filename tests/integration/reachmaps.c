/* SPDX-License-Identifier: MIT */
/*
 * reachmaps.c — blocks whose only pointers lie in memory the program mapped itself, as a
 * runtime's stacks and images are (gforth's: its stacks and dictionary are MAP_NORESERVE
 * anonymous mappings, its image a private writable mapping of a file it relocates):
 *   - in_noreserve: pointed to from an anonymous MAP_NORESERVE mapping (not a glibc arena);
 *   - in_filemap: pointed to from a MAP_PRIVATE, PROT_WRITE mapping of a file (unlinked);
 *   - dropped: its pointer overwritten, definitely lost (the scan ran at all).
 * memcheck reads every mapping the program can write: the first two are still reachable.
 * test_reach_maps.py checks the shim's classes (and memcheck's, when valgrind is installed).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RM_SIZE 4000 /* bytes of each block */

__attribute__((noinline)) void *in_noreserve(void)
{
    return malloc(RM_SIZE);
}

__attribute__((noinline)) void *in_filemap(void)
{
    return malloc(RM_SIZE);
}

__attribute__((noinline)) void *dropped(void)
{
    return malloc(RM_SIZE);
}

int main(int argc, char **argv)
{
    long page = sysconf(_SC_PAGESIZE);
    /* two pages, the first unmapped: the mapping cannot start at a 64 MiB boundary */
    char *nr = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (nr == MAP_FAILED)
        return 2;
    munmap(nr, page);
    nr += page;
    void *a = in_noreserve();
    memcpy(nr + 64, &a, sizeof a);

    char path[] = "/tmp/perfshim-reachmaps-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 2 * page) != 0)
        return 2;
    char *fm = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    unlink(path);
    if (fm == MAP_FAILED)
        return 2;
    void *b = in_filemap();
    memcpy(fm + page + 128, &b, sizeof b);

    volatile void *c = dropped();
    c = NULL;
    (void)c;
    a = b = NULL;
    printf("reachmaps: done%s\n", argc > 1 ? argv[1] : "");
    return 0;
}
