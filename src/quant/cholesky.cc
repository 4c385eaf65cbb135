#include "quant/cholesky.h"

#include "core/error.h"
#include "core/parallel.h"

// LAPACK's Cholesky (Debian's OpenBLAS ships no LAPACKE header).
extern "C" void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);

namespace quip {

bool CholeskyLower(const Eigen::MatrixXd& H, Eigen::MatrixXd* L) {
  QUIP_ASSERT(H.rows() == H.cols());
  UseSingleThreadedBlas();
  const int n = static_cast<int>(H.rows());
  *L = H;
  if (n == 0) return true;
  int info = 0;
  const char lower = 'L';
  dpotrf_(&lower, &n, L->data(), &n, &info);
  if (info != 0) return false;
  L->triangularView<Eigen::StrictlyUpper>().setZero();  // DPOTRF leaves H's upper triangle there
  return L->diagonal().allFinite();
}

bool CholeskyUpperReversed(const Eigen::MatrixXd& H, Eigen::MatrixXd* C) {
  Eigen::MatrixXd l;
  if (!CholeskyLower(H.reverse(), &l)) return false;
  *C = l.reverse();
  return true;
}

}  // namespace quip
