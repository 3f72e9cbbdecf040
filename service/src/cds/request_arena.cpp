#include "cds/request_arena.hpp"

#include <new>

namespace cds::service {

thread_local std::unique_ptr<unsigned char[]> arena_first_block::bytes_;
thread_local bool arena_first_block::in_use_ = false;

arena_first_block::arena_first_block() {
    if (in_use_) return;
    if (!bytes_) bytes_ = std::make_unique_for_overwrite<unsigned char[]>(arena_first_block_size);
    in_use_ = true;
    data_ = bytes_.get();
}

arena_first_block::~arena_first_block() {
    if (data_ != nullptr) in_use_ = false;
}

request_arena::~request_arena() {
    while (heap_blocks_ != nullptr) {
        block_header* const previous = heap_blocks_->previous;
        ::operator delete(heap_blocks_);
        heap_blocks_ = previous;
    }
}

void* request_arena::allocate_in_new_block(std::size_t bytes, std::size_t alignment) {
    // A new block big enough for this allocation whatever its alignment, and at least
    // twice the last one, so that a large tree takes O(log size) blocks.
    std::size_t const wanted = bytes + alignment;
    std::size_t size = std::max(next_heap_block_size_, min_heap_block_size);
    while (size < wanted) size *= 2;
    next_heap_block_size_ = size * 2;
    auto* header = static_cast<block_header*>(::operator new(sizeof(block_header) + size));
    header->previous = heap_blocks_;
    heap_blocks_ = header;
    next_ = reinterpret_cast<unsigned char*>(header + 1);
    end_ = next_ + size;
    return bump(bytes, alignment);
}

}  // namespace cds::service
