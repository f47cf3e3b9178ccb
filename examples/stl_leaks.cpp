/* SPDX-License-Identifier: MIT */
/*
 * stl_leaks.cpp — leaks through the C++ standard library's containers, built -O2 -g: every
 * allocation goes through library templates inlined into the program's function, so a report
 * must follow the inline chain down to the program's own line. Each site prints what it leaked
 * on stderr as "LEAK name blocks bytes", computed from the containers' own state (capacity, bucket
 * count, node type sizes): tests/integration/test_stl_leaks.py expects exactly that at the marked
 * line.
 *
 * Sites: LEAK:vector, LEAK:map_object, LEAK:map, LEAK:hash_object, LEAK:hash, LEAK:string,
 * LEAK:push_back_object, LEAK:push_back (vector growth: only the last buffer is live),
 * LEAK:deque. Everything else is freed.
 */
#include <cstdio>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

static void report(const char *name, size_t blocks, size_t bytes)
{
    std::fprintf(stderr, "LEAK %s %zu %zu\n", name, blocks, bytes);
}

__attribute__((noinline)) std::vector<long> *leak_vector()
{
    auto *v = new std::vector<long>(500, 1); /* LEAK:vector */
    report("vector", 2, sizeof *v + v->capacity() * sizeof(long));
    return v;
}

__attribute__((noinline)) std::map<int, long> *leak_map()
{
    auto *m = new std::map<int, long>; /* LEAK:map_object */
    for (int i = 0; i < 10; i++)
        m->emplace(i, i * 2L); /* LEAK:map */
    report("map_object", 1, sizeof *m);
    report("map", m->size(), m->size() * sizeof(std::_Rb_tree_node<std::pair<const int, long>>));
    return m;
}

__attribute__((noinline)) std::unordered_map<int, int> *leak_hash()
{
    auto *h = new std::unordered_map<int, int>; /* LEAK:hash_object */
    for (int i = 0; i < 20; i++)
        (*h)[i] = i; /* LEAK:hash */
    report("hash_object", 1, sizeof *h);
    /* the nodes, and the bucket array (earlier, smaller ones were freed when it grew) */
    using node = std::__detail::_Hash_node<std::pair<const int, int>, false>;
    report("hash", h->size() + 1, h->size() * sizeof(node) + h->bucket_count() * sizeof(void *));
    return h;
}

__attribute__((noinline)) std::string *leak_string()
{
    auto *s = new std::string(200, 's'); /* LEAK:string */
    report("string", 2, sizeof *s + s->capacity() + 1);
    return s;
}

__attribute__((noinline)) std::vector<std::string> *leak_push_back()
{
    auto *v = new std::vector<std::string>; /* LEAK:push_back_object */
    for (int i = 0; i < 10; i++)
        v->push_back(std::string(40, static_cast<char>('a' + i))); /* LEAK:push_back */
    report("push_back_object", 1, sizeof *v);
    size_t chars = 0;
    for (const auto &s : *v)
        chars += s.capacity() + 1;
    report("push_back", 1 + v->size(), v->capacity() * sizeof(std::string) + chars);
    return v;
}

__attribute__((noinline)) std::deque<int> *leak_deque()
{
    auto *d = new std::deque<int>(300, 7); /* LEAK:deque */
    /* the object, the map of node pointers (8 of them), and 512-byte nodes for 300 ints */
    size_t nodes = (300 * sizeof(int) + 511) / 512;
    report("deque", 2 + nodes, sizeof *d + 8 * sizeof(int *) + nodes * 512);
    return d;
}

/* Freed: must not be reported. */
__attribute__((noinline)) size_t no_leaks()
{
    std::vector<std::string> words;
    for (int i = 0; i < 50; i++)
        words.push_back(std::string(30, 'w') + std::to_string(i)); /* NOLEAK:words */
    std::map<std::string, int> counts;
    for (const auto &w : words)
        counts[w]++; /* NOLEAK:counts */
    return words.size() + counts.size();
}

int main()
{
    size_t freed = no_leaks();
    leak_vector();
    leak_map();
    leak_hash();
    leak_string();
    leak_push_back();
    leak_deque();
    std::fprintf(stderr, "stl_leaks: done (%zu)\n", freed);
    return 0;
}
