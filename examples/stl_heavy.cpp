/* SPDX-License-Identifier: MIT */
/*
 * stl_heavy.cpp — a workload that allocates through as many C++ standard library paths as a
 * short program can: sequence and associative containers, strings and streams, algorithms
 * with temporary buffers, std::function, smart pointers, regex, exceptions, and the program's
 * own static functions, lambdas, templates and classes around them. Built -O0, -O2 and -O3 and
 * as a shared library (STL_HEAVY_LIB): tests/integration/test_addr2line.py symbolizes every
 * return address of its trace and compares the frames with addr2line's, inline level by inline
 * level. Its output is a checksum, the same in every build.
 */
#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <numeric>
#include <queue>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace
{

struct Record {
    std::string name;
    std::vector<int> values;
    std::map<std::string, double> attrs;
};

/* Internal linkage: at -O2 these are inlined into their callers and have no symbol. */
static std::vector<int> make_numbers(int n)
{
    std::vector<int> v;
    for (int i = 0; i < n; i++)
        v.push_back((i * 7919) % 1013);
    return v;
}

std::string label(int i)
{
    return "record-" + std::to_string(i) + "-" + std::string(static_cast<size_t>(i % 40), 'x');
}

template <typename K, typename V> size_t fill_map(std::map<K, V> &m, const std::vector<K> &keys)
{
    for (size_t i = 0; i < keys.size(); i++)
        m.emplace(keys[i], static_cast<V>(i));
    return m.size();
}

class Registry
{
  public:
    explicit Registry(size_t buckets) : by_name_(buckets) {}
    void add(std::unique_ptr<Record> r)
    {
        by_name_[r->name] = records_.size();
        order_.push_front(r->name);
        records_.push_back(std::move(r));
    }
    long checksum() const
    {
        long sum = 0;
        for (const auto &r : records_)
            sum += static_cast<long>(r->name.size()) +
                   std::accumulate(r->values.begin(), r->values.end(), 0L);
        return sum + static_cast<long>(by_name_.size() + order_.size());
    }

  private:
    std::vector<std::unique_ptr<Record>> records_;
    std::unordered_map<std::string, size_t> by_name_;
    std::deque<std::string> order_;
};

long containers(int n)
{
    long sum = 0;
    std::vector<std::vector<int>> grid;
    for (int i = 0; i < n; i++)
        grid.emplace_back(make_numbers(i + 1));
    std::list<std::string> names;
    for (int i = 0; i < n; i++)
        names.push_back(label(i));
    std::set<std::string> uniq(names.begin(), names.end());
    std::multimap<int, std::string> by_len;
    for (const auto &s : names)
        by_len.insert({static_cast<int>(s.size()), s});
    std::unordered_set<int> seen;
    for (const auto &row : grid)
        for (int x : row)
            seen.insert(x);
    std::map<std::string, int> idx;
    std::vector<std::string> keys(uniq.begin(), uniq.end());
    sum += static_cast<long>(fill_map(idx, keys));
    std::unordered_map<int, std::vector<std::string>> buckets;
    for (const auto &s : names)
        buckets[static_cast<int>(s.size() % 7)].push_back(s);
    std::priority_queue<int> pq;
    for (int x : seen)
        pq.push(x);
    std::deque<int> dq;
    while (!pq.empty()) {
        dq.push_front(pq.top());
        pq.pop();
    }
    sum +=
        static_cast<long>(uniq.size() + by_len.size() + seen.size() + buckets.size() + dq.size());
    return sum;
}

long algorithms(int n)
{
    std::vector<int> v = make_numbers(n * 50);
    std::stable_sort(v.begin(), v.end(), [](int a, int b) { return a % 97 < b % 97; });
    std::vector<int> w;
    std::transform(v.begin(), v.end(), std::back_inserter(w), [](int x) { return x * 3; });
    std::sort(w.begin(), w.end());
    w.erase(std::unique(w.begin(), w.end()), w.end());
    std::vector<int> both;
    std::set_union(v.begin(), v.begin() + n, w.begin(), w.end(), std::back_inserter(both));
    std::vector<std::function<long(long)>> steps;
    for (int i = 0; i < 8; i++)
        steps.emplace_back([i, &w](long acc) { return acc + w[static_cast<size_t>(i)]; });
    long acc = 0;
    for (auto &f : steps)
        acc = f(acc);
    return acc + static_cast<long>(both.size());
}

long text(int n)
{
    std::ostringstream os;
    for (int i = 0; i < n; i++)
        os << label(i) << ' ' << i * 1.5 << '\n';
    std::istringstream is(os.str());
    std::string word;
    std::vector<std::string> words;
    while (is >> word)
        words.push_back(word);
    std::string joined;
    for (const auto &s : words)
        joined += s.substr(0, 3);
    std::regex re("rec(ord)-([0-9]+)");
    long found = 0;
    for (auto it = std::sregex_iterator(joined.begin(), joined.end(), re);
         it != std::sregex_iterator(); ++it)
        found++;
    for (const auto &s : words) {
        std::smatch m;
        if (std::regex_search(s, m, re))
            found += static_cast<long>(m[2].str().size());
    }
    return found + static_cast<long>(joined.size());
}

long objects(int n)
{
    Registry reg(16);
    for (int i = 0; i < n; i++) {
        auto r = std::make_unique<Record>();
        r->name = label(i);
        r->values = make_numbers(i % 13 + 1);
        r->attrs["weight"] = i * 0.5;
        r->attrs[label(i % 5)] = 1.0;
        reg.add(std::move(r));
    }
    std::vector<std::shared_ptr<std::string>> shared;
    for (int i = 0; i < n; i++)
        shared.push_back(std::make_shared<std::string>(label(i)));
    long caught = 0;
    for (int i = 0; i < 5; i++) {
        try {
            if (i % 2)
                throw std::runtime_error(label(i));
            std::vector<int>().at(static_cast<size_t>(i));
        } catch (const std::exception &e) {
            caught += static_cast<long>(std::string(e.what()).size());
        }
    }
    return reg.checksum() + caught + static_cast<long>(shared.size());
}

} // namespace

#ifdef STL_HEAVY_LIB
extern "C" long stl_heavy_run(int n)
#else
static long stl_heavy_run(int n)
#endif
{
    return containers(n) + algorithms(n) + text(n) + objects(n);
}

#ifndef STL_HEAVY_LIB
int main()
{
    std::printf("stl_heavy: checksum %ld\n", stl_heavy_run(60));
    return 0;
}
#endif
