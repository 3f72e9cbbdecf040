#include "cds/service/ops/buffered_log_sink.hpp"

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <utility>

#include <unistd.h>

#include <spdlog/details/log_msg.h>
#include <spdlog/fmt/fmt.h>

namespace cds::service {

namespace {

void put_digits(char* out, int value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        out[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
}

}  // namespace

void service_log_formatter::format(spdlog::details::log_msg const& msg,
                                   spdlog::memory_buf_t& dest) {
    auto const since_epoch = msg.time.time_since_epoch();
    auto const second = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
    if (second != cached_second_) {
        std::time_t const as_time_t = static_cast<std::time_t>(second);
        std::tm local{};
        localtime_r(&as_time_t, &local);
        put_digits(&date_time_[0], local.tm_year + 1900, 4);
        date_time_[4] = '-';
        put_digits(&date_time_[5], local.tm_mon + 1, 2);
        date_time_[7] = '-';
        put_digits(&date_time_[8], local.tm_mday, 2);
        date_time_[10] = 'T';
        put_digits(&date_time_[11], local.tm_hour, 2);
        date_time_[13] = ':';
        put_digits(&date_time_[14], local.tm_min, 2);
        date_time_[16] = ':';
        put_digits(&date_time_[17], local.tm_sec, 2);
        long const offset_minutes = local.tm_gmtoff / 60;
        zone_[0] = offset_minutes < 0 ? '-' : '+';
        put_digits(&zone_[1], static_cast<int>(std::labs(offset_minutes) / 60), 2);
        zone_[3] = ':';
        put_digits(&zone_[4], static_cast<int>(std::labs(offset_minutes) % 60), 2);
        cached_second_ = second;
    }
    std::array<char, 4> millis{'.', '0', '0', '0'};
    put_digits(
        &millis[1],
        static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000),
        3);
    auto const level = spdlog::level::to_string_view(msg.level);
    dest.append(date_time_.data(), date_time_.data() + date_time_.size());
    dest.append(millis.data(), millis.data() + millis.size());
    dest.append(zone_.data(), zone_.data() + zone_.size());
    dest.push_back(' ');
    dest.append(level.data(), level.data() + level.size());
    dest.push_back(' ');
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> service_log_formatter::clone() const {
    return std::make_unique<service_log_formatter>();
}

buffered_log_sink::buffered_log_sink(buffered_log_options const& options)
    : options_{options}, writer_{[this] { run_writer(); }} {}

buffered_log_sink::~buffered_log_sink() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_writer_.notify_one();
    writer_.join();
}

std::uint64_t buffered_log_sink::dropped_lines() {
    std::lock_guard lock(mutex_);
    return dropped_total_;
}

void buffered_log_sink::sink_it_(spdlog::details::log_msg const& msg) {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    if (pending_.size() + line.size() > options_.capacity_bytes) {
        ++dropped_unreported_;
        ++dropped_total_;
        return;
    }
    pending_.append(line.data(), line.size());
    ++lines_accepted_;
    if (msg.level >= spdlog::level::warn || pending_.size() >= options_.capacity_bytes / 2) {
        urgent_ = true;
        wake_writer_.notify_one();
    }
}

void buffered_log_sink::flush_() {
    // base_sink::flush holds mutex_; wait on it without taking it a second time, and leave it
    // locked for base_sink to release.
    std::unique_lock lock(mutex_, std::adopt_lock);
    std::uint64_t const target = lines_accepted_;
    urgent_ = true;
    wake_writer_.notify_one();
    written_.wait(lock, [&] { return lines_written_ >= target || stopping_; });
    lock.release();
}

void buffered_log_sink::run_writer() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_writer_.wait_for(lock, options_.flush_interval, [&] { return urgent_ || stopping_; });
        write_batch(lock);
    }
    write_batch(lock);
}

void buffered_log_sink::write_batch(std::unique_lock<std::mutex>& lock) {
    urgent_ = false;
    if (dropped_unreported_ > 0) {
        // Reported after the lines that were kept before the drop, in the log's own format.
        std::string const text =
            fmt::format("{} log lines dropped: stderr did not keep up", dropped_unreported_);
        spdlog::details::log_msg report{spdlog::string_view_t{}, spdlog::level::warn,
                                        spdlog::string_view_t{text.data(), text.size()}};
        spdlog::memory_buf_t line;
        formatter_->format(report, line);
        pending_.append(line.data(), line.size());
        dropped_unreported_ = 0;
    }
    if (pending_.empty()) {
        lines_written_ = lines_accepted_;
        written_.notify_all();
        return;
    }
    std::uint64_t const batch_end = lines_accepted_;
    writing_.swap(pending_);
    lock.unlock();
    write_all(writing_);
    writing_.clear();
    lock.lock();
    lines_written_ = batch_end;
    written_.notify_all();
}

void buffered_log_sink::write_all(std::string const& bytes) const {
    std::string_view rest{bytes};
    while (!rest.empty()) {
        ssize_t const n = ::write(options_.fd, rest.data(), rest.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // stderr is closed or broken: nowhere left to report it
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace cds::service
