#include "cds/service/fhir_client/http_fhir_fetcher.hpp"

#include <doctest/doctest.h>

using cds::service::fhir_client::keep_alive_reuse_window;
using std::chrono::milliseconds;

namespace {
constexpr milliseconds configured{30000};
}

TEST_CASE("a server's announced keep-alive timeout shortens reuse to one second less") {
    CHECK(keep_alive_reuse_window("timeout=5", configured) ==
          milliseconds{4000});  // Node's default
    CHECK(keep_alive_reuse_window("timeout=5, max=100", configured) ==
          milliseconds{4000});  // Apache's form
    CHECK(keep_alive_reuse_window(" max=99 ,TimeOut = 15 ", configured) == milliseconds{14000});
}

TEST_CASE("the configured idle timeout stays the upper bound") {
    CHECK(keep_alive_reuse_window("timeout=75", configured) == configured);
    CHECK(keep_alive_reuse_window("", configured) == configured);
    CHECK(keep_alive_reuse_window("max=1000", configured) == configured);
}

TEST_CASE("a connection the server is about to close is not pooled") {
    CHECK(keep_alive_reuse_window("timeout=1", configured) == milliseconds::zero());
    CHECK(keep_alive_reuse_window("timeout=0", configured) == milliseconds::zero());
    CHECK(keep_alive_reuse_window("timeout=5, max=0", configured) == milliseconds::zero());
}

TEST_CASE("unreadable parameters are ignored, not guessed") {
    CHECK(keep_alive_reuse_window("timeout=\"5\"", configured) == configured);
    CHECK(keep_alive_reuse_window("timeout=-3", configured) == configured);
    CHECK(keep_alive_reuse_window("timeout=99999999999999", configured) == configured);
    CHECK(keep_alive_reuse_window("timeout", configured) == configured);
    CHECK(keep_alive_reuse_window(",,,", configured) == configured);
}
