#pragma once
// Which event loop takes a new connection when each server thread runs its own loop
// (`serve --io-model per-thread`): the loop with the fewest open connections, ties taken in
// turn. A connection stays on its loop for its life, so handing them out only in turn would
// leave one loop with the long-lived connections once the others' clients have closed theirs.
// The loop is chosen when the accept loop starts waiting (the socket is made on it), so a
// connection closed during that wait counts only from the next choice on.

#include <atomic>
#include <cstddef>
#include <memory>

namespace cds::service {

class connection_spread {
public:
    explicit connection_spread(std::size_t loops);

    // The loop for the next connection. Called by the accept loop only.
    [[nodiscard]] std::size_t next();
    // A connection on `loop` was admitted; it closed. Called from any thread.
    void opened(std::size_t loop) { open_[loop].fetch_add(1, std::memory_order_relaxed); }
    void closed(std::size_t loop) { open_[loop].fetch_sub(1, std::memory_order_relaxed); }
    [[nodiscard]] std::size_t open(std::size_t loop) const {
        return open_[loop].load(std::memory_order_relaxed);
    }

private:
    std::size_t loops_;
    std::unique_ptr<std::atomic<std::size_t>[]> open_;
    std::size_t start_ = 0;  // where the next search starts: the loop after the last one chosen
};

}  // namespace cds::service
