/* SPDX-License-Identifier: MIT */
/*
 * leaky_cxx.cpp — C++ leaks through operator new and operator new[] inside member functions of
 * a class in a namespace, so reports must show demangled names such as
 * `demo::Cache::fill_entries`. Freed objects (delete, delete[], std::vector, std::string) must
 * not be reported.
 *
 * Markers and sizes (tests/integration knows them):
 *   LEAK:cxx_new     CXX_ENTRY_COUNT blocks of sizeof(demo::Entry) == CXX_ENTRY_SIZE
 *   LEAK:cxx_new_arr 1 block of CXX_ARRAY_BYTES (new char[], so no array cookie)
 */
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#define CXX_ENTRY_COUNT 4
#define CXX_ENTRY_SIZE 40
#define CXX_ARRAY_BYTES 1000

namespace demo
{

struct Entry {
    Entry *next;
    long key;
    char value[24];
};
static_assert(sizeof(Entry) == CXX_ENTRY_SIZE, "entry size is part of the contract");

class Cache
{
  public:
    __attribute__((noinline)) void fill_entries(int n);
    __attribute__((noinline)) void make_buffer();
    __attribute__((noinline)) unsigned churn();

  private:
    Entry *head_ = nullptr;
    char *buffer_ = nullptr;
};

void Cache::fill_entries(int n)
{
    for (int i = 0; i < n; i++) {
        Entry *e = new Entry; /* LEAK:cxx_new */
        e->next = head_;
        e->key = i;
        std::snprintf(e->value, sizeof e->value, "value %d", i);
        head_ = e;
    }
}

void Cache::make_buffer()
{
    buffer_ = new char[CXX_ARRAY_BYTES]; /* LEAK:cxx_new_arr */
    std::memset(buffer_, 'x', CXX_ARRAY_BYTES);
}

/* Everything allocated here is released. */
unsigned Cache::churn()
{
    unsigned sum = 0;
    for (int i = 0; i < 20; i++) {
        Entry *e = new Entry(); /* NOLEAK:cxx_delete */
        e->key = i;
        sum += static_cast<unsigned>(e->key);
        delete e;
        int *a = new int[100 + i](); /* NOLEAK:cxx_delete_arr */
        a[i] = i;
        sum += static_cast<unsigned>(a[i]);
        delete[] a;
    }
    std::vector<std::string> words;
    for (int i = 0; i < 100; i++)
        words.push_back(std::string("a string long enough to need the heap #") + std::to_string(i));
    for (const auto &w : words)
        sum += static_cast<unsigned>(w.size());
    auto owned = std::make_unique<Entry>();
    owned->key = 7;
    sum += static_cast<unsigned>(owned->key);
    return sum;
}

} // namespace demo

int main()
{
    demo::Cache cache;
    unsigned sum = cache.churn();
    cache.fill_entries(CXX_ENTRY_COUNT);
    cache.make_buffer();
    std::fprintf(stderr, "leaky_cxx: done (checksum %u)\n", sum);
    return 0;
}
