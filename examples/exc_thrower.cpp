/* SPDX-License-Identifier: MIT */
/*
 * exc_thrower.cpp — libexc_thrower.so, a small C++ library with a C entry point that throws and
 * catches exceptions internally. exc_host (a C program, not linked against libstdc++ or
 * libgcc_s) dlopen()s it, so libstdc++ and libgcc_s arrive only at dlopen time: the case where
 * an _Unwind_* definition loaded earlier into the global scope (libunwind linked by a preload
 * library) would win the binding of _Unwind_RaiseException.
 */
#include <stdexcept>

namespace
{
__attribute__((noinline)) long thrower_step(long i)
{
    if (i % 2 == 0)
        throw std::out_of_range("even");
    return i;
}
} // namespace

extern "C" __attribute__((visibility("default"))) unsigned long exc_thrower_run(long count,
                                                                                long *caught)
{
    unsigned long checksum = 0;
    *caught = 0;
    for (long i = 0; i < count; i++) {
        try {
            checksum += static_cast<unsigned long>(thrower_step(i));
        } catch (const std::out_of_range &e) {
            checksum = checksum * 17 + static_cast<unsigned long>(i);
            ++*caught;
        }
    }
    return checksum;
}
