#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "cds/service/cds/service_state.hpp"

TEST_CASE("card uuids are RFC 4122 version 4, lower-case, and never repeat across threads") {
    auto const next_uuid = cds::service::random_uuid_source();
    std::regex const v4{"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"};

    constexpr int per_thread = 5000;
    std::vector<std::vector<std::string>> made(4);
    std::vector<std::thread> threads;
    for (auto& out : made) {
        threads.emplace_back([&out, &next_uuid] {
            for (int i = 0; i < per_thread; ++i) out.push_back(next_uuid());
        });
    }
    for (auto& t : threads) t.join();

    std::set<std::string> distinct;
    bool all_v4 = true;
    for (auto const& out : made) {
        for (auto const& id : out) {
            all_v4 = all_v4 && std::regex_match(id, v4);
            distinct.insert(id);
        }
    }
    CHECK(all_v4);
    CHECK(distinct.size() == 4U * per_thread);
}
