/* SPDX-License-Identifier: MIT */
/*
 * exceptions.cpp — throws and catches EXC_COUNT (100,000) C++ exceptions and prints a checksum.
 *
 * A preload tool that links libunwind the ordinary way exports libunwind's _Unwind_* functions
 * into the process, where they can replace libgcc's: exceptions then become far slower or
 * break. The output (and exit status) must be the same with and without the shim; the
 * integration test also checks with LD_DEBUG=bindings where _Unwind_RaiseException binds.
 * Optional argument: the number of exceptions.
 */
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#define EXC_COUNT 100000

namespace
{

struct Failure : std::runtime_error {
    explicit Failure(long v) : std::runtime_error("failure"), value(v) {}
    long value;
};

__attribute__((noinline)) long may_throw(long i)
{
    if (i % 3 != 2)
        throw Failure(i * 7 + 1);
    return i;
}

// A few frames between throw and catch, so the unwinder really walks.
__attribute__((noinline)) long middle(long i)
{
    std::string guard = "a string with a destructor to run during unwinding";
    return may_throw(i) + static_cast<long>(guard.size());
}

} // namespace

int main(int argc, char **argv)
{
    long count = argc > 1 ? std::strtol(argv[1], nullptr, 10) : EXC_COUNT;
    unsigned long checksum = 0;
    long thrown = 0;
    for (long i = 0; i < count; i++) {
        try {
            checksum += static_cast<unsigned long>(middle(i));
        } catch (const Failure &f) {
            checksum = checksum * 31 + static_cast<unsigned long>(f.value);
            thrown++;
        }
    }
    std::printf("exceptions: thrown %ld caught %ld checksum %lu\n", thrown, thrown, checksum);
    return 0;
}
