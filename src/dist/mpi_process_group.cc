#include "dist/mpi_process_group.h"

#include <fmt/core.h>
#include <mpi.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace quip {
namespace {

// MPI counts are int: larger messages go as chunks of this many elements.
constexpr int64_t kMaxChunk = int64_t{1} << 30;

int CountOf(int64_t n) {
  QUIP_CHECK_INPUT(n <= INT_MAX, "MPI", "message of {} elements exceeds MPI's int count", n);
  return int(n);
}

class MpiProcessGroup final : public ProcessGroup {
 public:
  MpiProcessGroup() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiProcessGroup() override { MPI_Finalize(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::vector<std::vector<double>> AllToAll(std::vector<std::vector<double>> to_rank) override {
    const size_t n = static_cast<size_t>(size_);
    std::vector<int> send_counts(n), recv_counts(n), send_displs(n), recv_displs(n);
    for (int r = 0; r < size_; ++r) send_counts[r] = CountOf(int64_t(to_rank[r].size()));
    MPI_Alltoall(send_counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    std::vector<double> send, recv;
    int64_t send_total = 0, recv_total = 0;
    for (int r = 0; r < size_; ++r) {
      send_displs[r] = CountOf(send_total), recv_displs[r] = CountOf(recv_total);
      send_total += send_counts[r], recv_total += recv_counts[r];
      if (r != rank_) bytes_sent_ += int64_t(send_counts[r]) * int64_t(sizeof(double));
    }
    CountOf(send_total), CountOf(recv_total);
    send.reserve(size_t(send_total));
    for (auto& v : to_rank) send.insert(send.end(), v.begin(), v.end()), v = {};
    recv.resize(size_t(recv_total));
    MPI_Alltoallv(send.data(), send_counts.data(), send_displs.data(), MPI_DOUBLE, recv.data(), recv_counts.data(),
                  recv_displs.data(), MPI_DOUBLE, MPI_COMM_WORLD);
    std::vector<std::vector<double>> out(n);
    for (int r = 0; r < size_; ++r)
      out[r].assign(recv.begin() + recv_displs[r], recv.begin() + recv_displs[r] + recv_counts[r]);
    return out;
  }

  std::vector<std::vector<double>> AllGather(std::vector<double> mine) override {
    std::vector<std::vector<double>> to_rank(static_cast<size_t>(size_), mine);
    return AllToAll(std::move(to_rank));
  }

  void Broadcast(std::vector<uint8_t>& bytes, int root) override {
    int64_t size = int64_t(bytes.size());
    MPI_Bcast(&size, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
    bytes.resize(size_t(size));
    for (int64_t at = 0; at < size; at += kMaxChunk)
      MPI_Bcast(bytes.data() + at, int(std::min(kMaxChunk, size - at)), MPI_BYTE, root, MPI_COMM_WORLD);
    if (rank_ == root) bytes_sent_ += size * (size_ - 1);  // as a flat broadcast: the tree's total
  }

  int64_t bytes_sent() const override { return bytes_sent_; }

 private:
  int rank_ = 0, size_ = 1;
  int64_t bytes_sent_ = 0;
};

}  // namespace

std::unique_ptr<ProcessGroup> MakeMpiProcessGroup() { return std::make_unique<MpiProcessGroup>(); }

void AbortAllRanks(const std::string& message) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  fmt::print(stderr, "quip: error: rank {}: {}\n", rank, message);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace quip
