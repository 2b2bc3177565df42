// The NCCL and cuBLASLt entry points the profiler calls, defined here with the libraries' own
// signatures (nccl.h and cublasLt.h declare them, so the compiler checks every one) and forwarded
// to the real library, which is opened with dlopen on the first call. Linked directly, the two
// libraries (760 MB on disk) were mapped and initialised by every run of nest: `nest --help` took
// 0.3 s and 218 MB, most of it page faults and cuBLASLt's static initialisation (perf). Only
// `nest profile` with the NCCL backend or --ops on a GPU calls them.
#include <cublasLt.h>
#include <dlfcn.h>
#include <nccl.h>

#include <mutex>
#include <string>

#include "nest/core/error.hpp"

#define NEST_STR2(x) #x
#define NEST_STR(x) NEST_STR2(x)

namespace {

struct Library {
  Library(const char* w, const char* p0, const char* p1, const char* p2) : what(w), paths{p0, p1, p2} {}
  const char* what;      // for the error message
  const char* paths[3];  // tried in order: the one found at build time, then the sonames
  void* handle = nullptr;
  std::once_flag once;
  std::string error;
};

#ifndef NEST_NCCL_LIBRARY_PATH
#define NEST_NCCL_LIBRARY_PATH "libnccl.so.2"
#endif
#ifndef NEST_CUBLASLT_LIBRARY_PATH
#define NEST_CUBLASLT_LIBRARY_PATH "libcublasLt.so." NEST_STR(CUBLAS_VER_MAJOR)
#endif

Library g_nccl("NCCL", NEST_NCCL_LIBRARY_PATH, "libnccl.so.2", "libnccl.so");
Library g_cublaslt("cuBLASLt", NEST_CUBLASLT_LIBRARY_PATH, "libcublasLt.so." NEST_STR(CUBLAS_VER_MAJOR), "libcublasLt.so");

void* symbol(Library& lib, const char* name) {
  std::call_once(lib.once, [&lib] {
    for (const char* p : lib.paths) {
      lib.handle = dlopen(p, RTLD_NOW | RTLD_LOCAL);
      if (lib.handle) return;
      lib.error = dlerror();
    }
  });
  if (!lib.handle) nest::throw_runtime(std::string("cannot load ") + lib.what + ": " + lib.error);
  void* f = dlsym(lib.handle, name);
  if (!f) nest::throw_runtime(std::string(lib.what) + " has no " + name + " (" + dlerror() + ")");
  return f;
}

}  // namespace

// One forwarder: the function pointer is looked up once (a static local) and called.
#define NEST_FORWARD(lib, ret, name, params, args)                              \
  ret name params {                                                             \
    static const auto fn = reinterpret_cast<ret(*) params>(symbol(lib, #name)); \
    return fn args;                                                             \
  }

extern "C" {

NEST_FORWARD(g_nccl, ncclResult_t, ncclGetVersion, (int* version), (version))
NEST_FORWARD(g_nccl, ncclResult_t, ncclGetUniqueId, (ncclUniqueId * id), (id))
NEST_FORWARD(g_nccl, ncclResult_t, ncclCommInitRank, (ncclComm_t * comm, int nranks, ncclUniqueId id, int rank),
             (comm, nranks, id, rank))
NEST_FORWARD(g_nccl, ncclResult_t, ncclCommInitAll, (ncclComm_t * comm, int ndev, const int* devlist), (comm, ndev, devlist))
NEST_FORWARD(g_nccl, ncclResult_t, ncclCommDestroy, (ncclComm_t comm), (comm))
NEST_FORWARD(g_nccl, ncclResult_t, ncclCommAbort, (ncclComm_t comm), (comm))
NEST_FORWARD(g_nccl, ncclResult_t, ncclCommGetAsyncError, (ncclComm_t comm, ncclResult_t* asyncError), (comm, asyncError))
NEST_FORWARD(g_nccl, const char*, ncclGetErrorString, (ncclResult_t result), (result))
NEST_FORWARD(g_nccl, const char*, ncclGetLastError, (ncclComm_t comm), (comm))
NEST_FORWARD(g_nccl, ncclResult_t, ncclGroupStart, (), ())
NEST_FORWARD(g_nccl, ncclResult_t, ncclGroupEnd, (), ())
NEST_FORWARD(g_nccl, ncclResult_t, ncclAllReduce,
             (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
              cudaStream_t stream),
             (sendbuff, recvbuff, count, datatype, op, comm, stream))
NEST_FORWARD(g_nccl, ncclResult_t, ncclReduceScatter,
             (const void* sendbuff, void* recvbuff, size_t recvcount, ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
              cudaStream_t stream),
             (sendbuff, recvbuff, recvcount, datatype, op, comm, stream))
NEST_FORWARD(g_nccl, ncclResult_t, ncclAllGather,
             (const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype, ncclComm_t comm,
              cudaStream_t stream),
             (sendbuff, recvbuff, sendcount, datatype, comm, stream))
NEST_FORWARD(g_nccl, ncclResult_t, ncclSend,
             (const void* sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm, cudaStream_t stream),
             (sendbuff, count, datatype, peer, comm, stream))
NEST_FORWARD(g_nccl, ncclResult_t, ncclRecv,
             (void* recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm, cudaStream_t stream),
             (recvbuff, count, datatype, peer, comm, stream))

NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtCreate, (cublasLtHandle_t * handle), (handle))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtDestroy, (cublasLtHandle_t handle), (handle))
NEST_FORWARD(g_cublaslt, const char*, cublasLtGetStatusString, (cublasStatus_t status), (status))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatmul,
             (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* A, cublasLtMatrixLayout_t Adesc,
              const void* B, cublasLtMatrixLayout_t Bdesc, const void* beta, const void* C, cublasLtMatrixLayout_t Cdesc, void* D,
              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspaceSize,
              cudaStream_t stream),
             (handle, desc, alpha, A, Adesc, B, Bdesc, beta, C, Cdesc, D, Ddesc, algo, workspace, workspaceSize, stream))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatmulAlgoGetHeuristic,
             (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
              cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc, cublasLtMatmulPreference_t preference,
              int requestedAlgoCount, cublasLtMatmulHeuristicResult_t heuristicResultsArray[], int* returnAlgoCount),
             (handle, desc, Adesc, Bdesc, Cdesc, Ddesc, preference, requestedAlgoCount, heuristicResultsArray, returnAlgoCount))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatmulDescCreate,
             (cublasLtMatmulDesc_t * desc, cublasComputeType_t computeType, cudaDataType_t scaleType),
             (desc, computeType, scaleType))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t desc), (desc))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t * pref), (pref))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t pref), (pref))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatmulPreferenceSetAttribute,
             (cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void* buf, size_t sizeInBytes),
             (pref, attr, buf, sizeInBytes))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatrixLayoutCreate,
             (cublasLtMatrixLayout_t * layout, cudaDataType type, uint64_t rows, uint64_t cols, int64_t ld),
             (layout, type, rows, cols, ld))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t layout), (layout))
NEST_FORWARD(g_cublaslt, cublasStatus_t, cublasLtMatrixLayoutSetAttribute,
             (cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attr, const void* buf, size_t sizeInBytes),
             (layout, attr, buf, sizeInBytes))

}  // extern "C"
