#pragma once
// Where an evaluation records its explain trace: into the result's entries when the caller
// asked for the trace (hook_context::record_trace), nowhere otherwise. Every place that records
// asks first, before it formats a message or a value: an evaluation without the trace builds no
// trace text at all, and its cards are the same either way.

#include <stdexcept>
#include <vector>

#include "cds/rules/trace.hpp"

namespace cds::rules {

class trace_recorder {
public:
    trace_recorder() = default;  // records nothing
    explicit trace_recorder(std::vector<trace_entry>& entries) : entries_(&entries) {}

    [[nodiscard]] bool on() const { return entries_ != nullptr; }
    explicit operator bool() const { return on(); }

    // The entries recorded so far. Only when on(): a place that records without asking is a
    // programmer error.
    [[nodiscard]] std::vector<trace_entry>& entries() const {
        if (entries_ == nullptr) throw std::logic_error("trace recorded without asking on()");
        return *entries_;
    }

private:
    std::vector<trace_entry>* entries_ = nullptr;
};

}  // namespace cds::rules
