#include "cds/service/http/connection_spread.hpp"

#include <algorithm>

namespace cds::service {

connection_spread::connection_spread(std::size_t loops)
    : loops_{std::max<std::size_t>(1, loops)},
      open_{std::make_unique<std::atomic<std::size_t>[]>(loops_)} {}

std::size_t connection_spread::next() {
    std::size_t best = start_;
    for (std::size_t k = 1; k < loops_; ++k) {
        std::size_t const loop = (start_ + k) % loops_;
        if (open(loop) < open(best)) best = loop;
    }
    start_ = (best + 1) % loops_;
    return best;
}

}  // namespace cds::service
