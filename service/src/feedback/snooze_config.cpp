// serve's snoozing options: where the HMAC key comes from.

#include <fstream>
#include <iterator>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <boost/program_options/value_semantic.hpp>

#include "cds/service/feedback/snooze.hpp"

namespace cds::service {

namespace {

// The name the generated key is kept under in the store (shared_secret).
constexpr std::string_view stored_secret_name = "snooze-hmac-key";

// The file's bytes without the line break an editor or `echo` leaves at the end.
std::string read_secret_file(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("--snooze-secret-file " + path + ": cannot be read");
    std::string secret{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.size() < snooze_secret_min_bytes) {
        throw std::runtime_error("--snooze-secret-file " + path + ": the secret must be at least " +
                                 std::to_string(snooze_secret_min_bytes) + " bytes");
    }
    return secret;
}

}  // namespace

void add_snooze_options(boost::program_options::options_description& description) {
    description.add_options()(
        "snooze-secret-file", boost::program_options::value<std::string>()->value_name("FILE"),
        "the key (at least 32 bytes) of the patient hash that snoozing stores with each card "
        "(with --feedback-db); default: a random key generated once and kept in the feedback "
        "database, shared by every replica using it");
}

std::shared_ptr<snooze_service> make_snooze_service(boost::program_options::variables_map const& vm,
                                                    std::shared_ptr<feedback_store> store) {
    std::string secret;
    if (vm.count("snooze-secret-file")) {
        secret = read_secret_file(vm["snooze-secret-file"].as<std::string>());
        spdlog::info("snoozing: patient hash key from --snooze-secret-file");
    } else {
        secret = store->shared_secret(stored_secret_name, generate_snooze_secret());
        spdlog::info("snoozing: patient hash key kept in the feedback database");
    }
    return std::make_shared<snooze_service>(snooze_keys{std::move(secret)}, std::move(store),
                                            snooze_options{});
}

}  // namespace cds::service
