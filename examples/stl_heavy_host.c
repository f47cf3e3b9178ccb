/* SPDX-License-Identifier: MIT */
/*
 * stl_heavy_host.c — runs stl_heavy.cpp's workload from the shared library libstl_heavy.so
 * (linked, so that its frames are in the trace's module map at a load bias): the shared-library
 * case of tests/integration/test_addr2line.py. Prints the same checksum as stl_heavy.
 */
#include <stdio.h>

long stl_heavy_run(int n);

int main(void)
{
    printf("stl_heavy: checksum %ld\n", stl_heavy_run(60));
    return 0;
}
