// Which store --feedback-db names, and the PostgreSQL password from a file.

#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/program_options/value_semantic.hpp>

#include "cds/service/feedback/feedback_store.hpp"

namespace cds::service {

namespace {

// The file's first line (a trailing newline, as editors and `kubectl create secret
// --from-file` leave it, is not part of the password). The message names the file, never
// its content.
std::string password_from_file(std::string const& path) {
    std::ifstream in{path};
    if (!in) throw std::runtime_error("--feedback-db-password-file " + path + ": cannot be read");
    std::string password;
    std::getline(in, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty())
        throw std::runtime_error("--feedback-db-password-file " + path +
                                 ": the first line is empty");
    return password;
}

}  // namespace

void add_feedback_db_password_option(boost::program_options::options_description& description) {
    namespace po = boost::program_options;
    description.add_options()(
        "feedback-db-password-file", po::value<std::string>()->value_name("FILE"),
        "with a postgresql:// --feedback-db: read the database password from the first line of "
        "this file (e.g. a mounted Secret) instead of putting it in the URL; libpq's PGPASSWORD "
        "and PGPASSFILE work too. The password is never logged");
}

std::shared_ptr<feedback_store> open_feedback_store_from(
    boost::program_options::variables_map const& vm,
    rule_set_identity rules,
    feedback_store_role role) {
    auto const target = vm["feedback-db"].as<std::string>();
    bool const has_password_file = vm.count("feedback-db-password-file") != 0;
    if (is_postgres_url(target)) {
        postgres_feedback_store_options options;
        if (has_password_file)
            options.password =
                password_from_file(vm["feedback-db-password-file"].as<std::string>());
        return open_postgres_feedback_store(target, std::move(rules), std::move(options));
    }
    if (has_password_file)
        throw std::runtime_error("--feedback-db-password-file needs a postgresql:// --feedback-db");
    sqlite_feedback_store_options options;
    // A report only reads, and a mistyped path is an error rather than a new empty database.
    options.create_if_missing = role == feedback_store_role::serve;
    options.must_be_writable = role == feedback_store_role::serve;
    return open_sqlite_feedback_store(target, std::move(rules), std::move(options));
}

}  // namespace cds::service
