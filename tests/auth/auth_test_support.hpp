#pragma once
// Shared helpers for the auth tests: the material minted by mint_tokens.py (a CTest
// fixture), a scriptable JWKS source, and a guard for a child process.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include <cds/service/auth/jwks_source.hpp>
#include <cds/service/auth/jwt_verifier.hpp>

namespace cds::service::auth::test {

inline std::filesystem::path minted_dir() { return CDS_AUTH_MINTED_DIR; }

inline std::string read_file(std::filesystem::path const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string() +
                                 " (run the auth_mint_tokens CTest fixture first)");
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct minted {
    boost::json::object tokens;
    boost::json::object meta;

    std::string token(std::string_view name) const {
        auto const* value = tokens.if_contains(name);
        if (value == nullptr) {
            throw std::runtime_error("no minted token named " + std::string(name));
        }
        return std::string(value->as_string());
    }
    std::string text(std::string_view name) const { return std::string(meta.at(name).as_string()); }
    std::chrono::system_clock::time_point now() const {
        return std::chrono::system_clock::time_point{
            std::chrono::seconds{meta.at("now").as_int64()}};
    }
};

// Loaded once per test binary; a missing fixture fails the test instead of skipping it.
inline minted const& material() {
    static minted const loaded = [] {
        minted m;
        m.tokens = boost::json::parse(read_file(minted_dir() / "tokens.json")).as_object();
        m.meta = boost::json::parse(read_file(minted_dir() / "meta.json")).as_object();
        return m;
    }();
    return loaded;
}

// A remote-looking source whose answers the test scripts, counting fetches.
class scripted_source final : public jwks_source {
public:
    scripted_source(std::string location, std::shared_ptr<std::string> body)
        : location_(std::move(location)), body_(std::move(body)) {}
    std::string const& location() const override { return location_; }
    bool is_remote() const override { return true; }
    jwks_fetch_result fetch() override {
        if (!body_ || body_->empty()) {
            return {std::nullopt, "scripted failure"};
        }
        return {*body_, {}};
    }

private:
    std::string location_;
    std::shared_ptr<std::string> body_;  // shared with the test, which swaps it to rotate
};

inline std::unique_ptr<jwks_source> file_source(std::string const& name) {
    return std::make_unique<file_jwks_source>(minted_dir() / name);
}

inline std::filesystem::path sandbox_jwks_path() {
    return std::filesystem::path(CDS_SOURCE_DIR) / "deploy/trust/cds-hooks-sandbox-jwks.json";
}

}  // namespace cds::service::auth::test
