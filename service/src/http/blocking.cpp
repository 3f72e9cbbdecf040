#include <exception>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "cds/service/http/router.hpp"

namespace cds::service {

http_response handle_request_blocking(http_request request, service_state const& state) {
    boost::asio::io_context io;
    std::optional<http_response> response;
    std::exception_ptr failure;
    boost::asio::co_spawn(io, handle_request(std::move(request), state),
                          [&](std::exception_ptr e, http_response r) {
                              if (e) {
                                  failure = e;
                              } else {
                                  response = std::move(r);
                              }
                          });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*response);
}

}  // namespace cds::service
