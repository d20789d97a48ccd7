// batch-rpc CUDA kernels: the GPU twins of CpuBackend's round kernels.
//
// Compiled to PTX by build-ptx.sh (nvcc -ptx -arch=compute_75 --fmad=false) and loaded at run time
// with cuModuleLoadData, so neither the build nor the deployment needs a CUDA toolkit.
//
// Numerics contract (see dev.batchrpc.compute.Backend):
// - Every multiply and add the CPU does as a separate float32 operation is a separate, correctly
//   rounded operation here too (__fmul_rn/__fadd_rn/__fdiv_rn/__fsqrt_rn, and --fmad=false as a
//   second guard against contraction); where the CPU (like PyTorch's add_(x, alpha)) uses one
//   fused multiply-add, so do we (__fmaf_rn). So sumAverage, sgdMomentum, averageAndSgd and adam
//   match CpuBackend bit for bit when the host passes the same float scalars.
// - policyAct reduces the hidden layer with a warp tree (not the CPU's left-to-right order) and
//   uses expf (<= 2 ulp): probabilities agree with the CPU to ~1e-6 relative, actions agree except
//   when a uniform lies within that distance of a cumulative probability.
//
// Memory-bound kernels use grid-stride loops over vectors of W floats (W = 4, 2 or 1, chosen by
// the host so that every row start stays W*4-byte aligned: rows of stacked gradients start at
// i * length floats, so W must divide length).
//
// All kernels are extern "C" so their PTX names are stable for cuModuleGetFunction.

#include <cuda_runtime.h>

namespace {

template <int W> struct Vec;
template <> struct Vec<1> { typedef float T; };
template <> struct Vec<2> { typedef float2 T; };
template <> struct Vec<4> { typedef float4 T; };

// Element access on a vector type, so one template body serves W = 1, 2, 4.
__device__ __forceinline__ float& at(float& v, int) { return v; }
__device__ __forceinline__ float& at(float2& v, int i) { return i == 0 ? v.x : v.y; }
__device__ __forceinline__ float& at(float4& v, int i) {
  return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w));
}

// out = (g_0 + g_1 + ... + g_{count-1}) / count for vector index q, sum in row order.
template <int W>
__device__ __forceinline__ typename Vec<W>::T average_vec(const float* __restrict__ stacked,
                                                          int count, long long lengthVec,
                                                          long long q) {
  typedef typename Vec<W>::T V;
  const V* rows = reinterpret_cast<const V*>(stacked);
  V acc = __ldg(rows + q);
  for (int r = 1; r < count; ++r) {
    V g = __ldg(rows + (long long)r * lengthVec + q);
#pragma unroll
    for (int e = 0; e < W; ++e) at(acc, e) = __fadd_rn(at(acc, e), at(g, e));
  }
  const float n = (float)count;
#pragma unroll
  for (int e = 0; e < W; ++e) at(acc, e) = __fdiv_rn(at(acc, e), n);
  return acc;
}

// One SGD-with-momentum element step; mode 0: no momentum (buf unused), 1: first step
// (buf = g), 2: later steps (buf = momentum * buf + g, two roundings as torch's
// buf.mul_(momentum).add_(g)). Then p = fma(buf, -lr, p), one rounding, as torch's
// p.add_(buf, alpha=-lr).
__device__ __forceinline__ float sgd_elem(float p, float g, float* buf, int mode, float negLr,
                                          float momentum) {
  float d = g;
  if (mode == 1) {
    *buf = g;
  } else if (mode == 2) {
    d = __fadd_rn(__fmul_rn(momentum, *buf), g);
    *buf = d;
  }
  return __fmaf_rn(d, negLr, p);
}

template <int W>
__device__ __forceinline__ void sum_average_body(const float* __restrict__ stacked, int count,
                                                 long long length, float* __restrict__ out) {
  typedef typename Vec<W>::T V;
  const long long nVec = length / W;
  V* outV = reinterpret_cast<V*>(out);
  for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < nVec;
       q += (long long)gridDim.x * blockDim.x) {
    outV[q] = average_vec<W>(stacked, count, nVec, q);
  }
}

template <int W>
__device__ __forceinline__ void sgd_body(float* __restrict__ params, const float* __restrict__ grad,
                                         float* __restrict__ buf, long long length, float negLr,
                                         float momentum, int mode) {
  typedef typename Vec<W>::T V;
  const long long nVec = length / W;
  V* pV = reinterpret_cast<V*>(params);
  const V* gV = reinterpret_cast<const V*>(grad);
  V* bV = reinterpret_cast<V*>(buf);
  for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < nVec;
       q += (long long)gridDim.x * blockDim.x) {
    V p = pV[q];
    V g = __ldg(gV + q);
    V b;
    if (mode == 2) b = bV[q];
#pragma unroll
    for (int e = 0; e < W; ++e) at(p, e) = sgd_elem(at(p, e), at(g, e), &at(b, e), mode, negLr, momentum);
    pV[q] = p;
    if (mode != 0) bV[q] = b;
  }
}

template <int W>
__device__ __forceinline__ void average_sgd_body(const float* __restrict__ stacked, int count,
                                                 float* __restrict__ gradOut,
                                                 float* __restrict__ params,
                                                 float* __restrict__ buf, long long length,
                                                 float negLr, float momentum, int mode) {
  typedef typename Vec<W>::T V;
  const long long nVec = length / W;
  V* gOutV = reinterpret_cast<V*>(gradOut);
  V* pV = reinterpret_cast<V*>(params);
  V* bV = reinterpret_cast<V*>(buf);
  for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < nVec;
       q += (long long)gridDim.x * blockDim.x) {
    V g = average_vec<W>(stacked, count, nVec, q);
    gOutV[q] = g;
    V p = pV[q];
    V b;
    if (mode == 2) b = bV[q];
#pragma unroll
    for (int e = 0; e < W; ++e) at(p, e) = sgd_elem(at(p, e), at(g, e), &at(b, e), mode, negLr, momentum);
    pV[q] = p;
    if (mode != 0) bV[q] = b;
  }
}

template <int W>
__device__ __forceinline__ void adam_body(float* __restrict__ params, const float* __restrict__ grad,
                                          float* __restrict__ m, float* __restrict__ v,
                                          long long length, float beta1, float oneMinusBeta1,
                                          float beta2, float oneMinusBeta2, float negStepSize,
                                          float bc2Sqrt, float eps) {
  typedef typename Vec<W>::T V;
  const long long nVec = length / W;
  V* pV = reinterpret_cast<V*>(params);
  const V* gV = reinterpret_cast<const V*>(grad);
  V* mV = reinterpret_cast<V*>(m);
  V* vV = reinterpret_cast<V*>(v);
  for (long long q = blockIdx.x * (long long)blockDim.x + threadIdx.x; q < nVec;
       q += (long long)gridDim.x * blockDim.x) {
    V p = pV[q];
    V g = __ldg(gV + q);
    V mm = mV[q];
    V vv = vV[q];
#pragma unroll
    for (int e = 0; e < W; ++e) {
      const float ge = at(g, e);
      // m = fma(g, 1-b1, m*b1)          torch: exp_avg.mul_(b1).add_(g, alpha=1-b1)
      // v = v*b2 + ((1-b2)*g)*g         torch: exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
      const float me = __fmaf_rn(ge, oneMinusBeta1, __fmul_rn(at(mm, e), beta1));
      const float ve = __fadd_rn(__fmul_rn(at(vv, e), beta2),
                                 __fmul_rn(__fmul_rn(oneMinusBeta2, ge), ge));
      // p = p + (-stepSize * m) / (sqrt(v) / sqrt(1 - b2^t) + eps)   torch: addcdiv_
      const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(ve), bc2Sqrt), eps);
      at(p, e) = __fadd_rn(at(p, e), __fdiv_rn(__fmul_rn(negStepSize, me), denom));
      at(mm, e) = me;
      at(vv, e) = ve;
    }
    pV[q] = p;
    mV[q] = mm;
    vV[q] = vv;
  }
}

}  // namespace

// ---- extern "C" entry points, one per vector width ----------------------------------------------

#define BRPC_WIDTHS(X) X(1) X(2) X(4)

#define BRPC_SUM_AVERAGE(W)                                                                      \
  extern "C" __global__ void sum_average_v##W(const float* __restrict__ stacked, int count,      \
                                              long long length, float* __restrict__ out) {       \
    sum_average_body<W>(stacked, count, length, out);                                            \
  }
BRPC_WIDTHS(BRPC_SUM_AVERAGE)

#define BRPC_SGD(W)                                                                              \
  extern "C" __global__ void sgd_momentum_v##W(float* __restrict__ params,                       \
                                               const float* __restrict__ grad,                   \
                                               float* __restrict__ buf, long long length,        \
                                               float negLr, float momentum, int mode) {          \
    sgd_body<W>(params, grad, buf, length, negLr, momentum, mode);                               \
  }
BRPC_WIDTHS(BRPC_SGD)

#define BRPC_AVG_SGD(W)                                                                          \
  extern "C" __global__ void average_sgd_v##W(const float* __restrict__ stacked, int count,      \
                                              float* __restrict__ gradOut,                       \
                                              float* __restrict__ params,                        \
                                              float* __restrict__ buf, long long length,         \
                                              float negLr, float momentum, int mode) {           \
    average_sgd_body<W>(stacked, count, gradOut, params, buf, length, negLr, momentum, mode);    \
  }
BRPC_WIDTHS(BRPC_AVG_SGD)

#define BRPC_ADAM(W)                                                                             \
  extern "C" __global__ void adam_v##W(float* __restrict__ params,                               \
                                       const float* __restrict__ grad, float* __restrict__ m,    \
                                       float* __restrict__ v, long long length, float beta1,     \
                                       float oneMinusBeta1, float beta2, float oneMinusBeta2,    \
                                       float negStepSize, float bc2Sqrt, float eps) {            \
    adam_body<W>(params, grad, m, v, length, beta1, oneMinusBeta1, beta2, oneMinusBeta2,         \
                 negStepSize, bc2Sqrt, eps);                                                     \
  }
BRPC_WIDTHS(BRPC_ADAM)

// ---- the agent's fused round -------------------------------------------------------------------

// No uniform flagged (the initial value of policy_act's guard word).
#define POLICY_GUARD_CLEAR 0x7fffffff

// Validation pass before policy_act: the smallest row whose uniform is not in [0, 1) (NaN
// included) goes to *firstBad (set to POLICY_GUARD_CLEAR by the host beforehand). policy_act
// reads the same word and writes nothing when it is set, so a bad round changes no output.
extern "C" __global__ void check_uniforms(const float* __restrict__ uniforms, int batch,
                                          int* __restrict__ firstBad) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < batch; i += gridDim.x * blockDim.x) {
    const float u = uniforms[i];
    if (!(u >= 0.0f && u < 1.0f)) atomicMin(firstBad, i);
  }
}

// Largest action count the fused policy kernel keeps in registers (CartPole has 2).
#define POLICY_MAX_OUT 16

// One warp per row (grid-stride over rows). Lane l owns hidden units l, l+32, ...:
//   h_j = relu( (b1_j + sum_i W1[j,i] x_i) * scale_j )        (dropout before ReLU, as PyTorch)
//   z_o = b2_o + sum_j W2[o,j] h_j                            (lane partials, then a warp tree)
//   p = softmax(z): e_o = expf(z_o - max), p_o = e_o * (1 / sum e)  (as CpuBackend's Softmax),
//   action = min{i : u < p_0 + ... + p_i}, else out-1 (as Categorical.sample).
// When useShared != 0 the whole parameter vector (W1 | b1 | W2 | b2) is staged in dynamic shared
// memory once per block; the host only asks for that when it fits.
extern "C" __global__ void policy_act(const float* __restrict__ params, int in, int hidden,
                                      int out, int batch, const float* __restrict__ states,
                                      const float* __restrict__ dropoutScale,
                                      const float* __restrict__ uniforms,
                                      float* __restrict__ probsOut, int* __restrict__ actionsOut,
                                      int useShared, const int* __restrict__ guard) {
  extern __shared__ float sParams[];
  if (*guard != POLICY_GUARD_CLEAR) return;  // uniform out of range: leave every output as is
  const int nParams = hidden * in + hidden + out * hidden + out;
  const float* P = params;
  if (useShared) {
    for (int i = threadIdx.x; i < nParams; i += blockDim.x) sParams[i] = params[i];
    __syncthreads();
    P = sParams;
  }
  const float* W1 = P;
  const float* B1 = W1 + hidden * in;
  const float* W2 = B1 + hidden;
  const float* B2 = W2 + out * hidden;

  const int lane = threadIdx.x & 31;
  const int warpsPerBlock = blockDim.x >> 5;
  const long long firstRow = (long long)blockIdx.x * warpsPerBlock + (threadIdx.x >> 5);
  const long long rowStride = (long long)gridDim.x * warpsPerBlock;

  for (long long row = firstRow; row < batch; row += rowStride) {
    const float* x = states + row * in;
    const float* s = dropoutScale + row * hidden;
    float z[POLICY_MAX_OUT];
#pragma unroll
    for (int o = 0; o < POLICY_MAX_OUT; ++o) z[o] = 0.0f;

    for (int j = lane; j < hidden; j += 32) {
      float acc = 0.0f;
      const float* w = W1 + j * in;
      for (int i = 0; i < in; ++i) acc = __fadd_rn(acc, __fmul_rn(w[i], __ldg(x + i)));
      float h = __fmul_rn(__fadd_rn(acc, B1[j]), __ldg(s + j));
      h = h > 0.0f ? h : 0.0f;
#pragma unroll
      for (int o = 0; o < POLICY_MAX_OUT; ++o) {
        if (o < out) z[o] = __fadd_rn(z[o], __fmul_rn(W2[o * hidden + j], h));
      }
    }
    // Warp tree reduction of each logit's 32 lane partials; every lane ends with the full sum.
#pragma unroll
    for (int o = 0; o < POLICY_MAX_OUT; ++o) {
      if (o < out) {
        float v = z[o];
        for (int off = 16; off > 0; off >>= 1) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
        z[o] = __fadd_rn(v, B2[o]);
      }
    }
    if (lane == 0) {
      float mx = z[0];
      for (int o = 1; o < out; ++o) mx = fmaxf(mx, z[o]);
      float total = 0.0f;
#pragma unroll
      for (int o = 0; o < POLICY_MAX_OUT; ++o) {
        if (o < out) {
          z[o] = expf(__fsub_rn(z[o], mx));
          total = __fadd_rn(total, z[o]);
        }
      }
      const float u = uniforms[row];
      const float inv = __fdiv_rn(1.0f, total);
      float cum = 0.0f;
      int action = out - 1;
      bool chosen = false;
#pragma unroll
      for (int o = 0; o < POLICY_MAX_OUT; ++o) {
        if (o < out) {
          const float p = __fmul_rn(z[o], inv);
          probsOut[row * out + o] = p;
          cum = __fadd_rn(cum, p);
          if (!chosen && u < cum) {
            action = o;
            chosen = true;
          }
        }
      }
      actionsOut[row] = action;
    }
  }
}

// ---- the agent's fused round with keyed draws ----------------------------------------------------

// Philox4x32-10 (Salmon et al., SC 2011; Random123), bit for bit as
// dev.batchrpc.compute.random.Philox: ten rounds of
//   (hi0, lo0) = mulhilo(0xD2511F53, c0), (hi1, lo1) = mulhilo(0xCD9E8D57, c2),
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0),
// the key bumped by (0x9E3779B9, 0xBB67AE85) before every round but the first.
// __host__ as well, so a host program can check it against the known answers without a GPU.
__host__ __device__ __forceinline__ unsigned int philox_mulhi(unsigned int a, unsigned int b) {
#ifdef __CUDA_ARCH__
  return __umulhi(a, b);
#else
  return (unsigned int)(((unsigned long long)a * b) >> 32);
#endif
}

__host__ __device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k.x += 0x9E3779B9u;
      k.y += 0xBB67AE85u;
    }
    const unsigned int hi0 = philox_mulhi(0xD2511F53u, c.x);
    const unsigned int lo0 = 0xD2511F53u * c.x;
    const unsigned int hi1 = philox_mulhi(0xCD9E8D57u, c.z);
    const unsigned int lo1 = 0xCD9E8D57u * c.z;
    c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// The uniform of a Philox word as KeyedDraws.toUniform: its top 24 bits times 2^-24 (both steps
// exact in float32), in [0, 1 - 2^-24].
__host__ __device__ __forceinline__ float keyed_uniform(unsigned int x) {
  return (float)(x >> 8) * 5.9604644775390625e-8f;  // 2^-24; both steps exact, no rounding
}

// KeyedDraws.SAMPLE_BLOCK: the counter block whose word 0 samples the action.
#define KEYED_SAMPLE_BLOCK 0xffffffffu

// policy_act with the draws made here, as dev.batchrpc.compute.random.KeyedDraws lays them out:
//   key = (seedLo, seedHi), counter = (stepLo, stepHi, observers[row], block).
// Hidden unit j = 128 g + 32 w + lane takes word w of block 32 g + lane: one Philox call per lane
// per 128 units, for exactly the units the lane owns. Kept iff uniform < keep (a float compare,
// exact), scale keptValue, else 0 (keep and keptValue come from the host: KeyedDraws.keepThreshold
// and keptValue). The sampling uniform is word 0 of block KEYED_SAMPLE_BLOCK; it is always in
// [0, 1), so this kernel needs no validation pass. The arithmetic after the mask is policy_act's,
// operation for operation and in the same order, so both kernels give identical bits for the same
// scales and uniforms.
extern "C" __global__ void policy_act_keyed(const float* __restrict__ params, int in, int hidden,
                                            int out, int batch, const float* __restrict__ states,
                                            const int* __restrict__ observers,
                                            unsigned int seedLo, unsigned int seedHi,
                                            unsigned int stepLo, unsigned int stepHi, float keep,
                                            float keptValue, float* __restrict__ probsOut,
                                            int* __restrict__ actionsOut, int useShared) {
  extern __shared__ float sParams[];
  const int nParams = hidden * in + hidden + out * hidden + out;
  const float* P = params;
  if (useShared) {
    for (int i = threadIdx.x; i < nParams; i += blockDim.x) sParams[i] = params[i];
    __syncthreads();
    P = sParams;
  }
  const float* W1 = P;
  const float* B1 = W1 + hidden * in;
  const float* W2 = B1 + hidden;
  const float* B2 = W2 + out * hidden;
  const uint2 key = make_uint2(seedLo, seedHi);

  const int lane = threadIdx.x & 31;
  const int warpsPerBlock = blockDim.x >> 5;
  const long long firstRow = (long long)blockIdx.x * warpsPerBlock + (threadIdx.x >> 5);
  const long long rowStride = (long long)gridDim.x * warpsPerBlock;

  for (long long row = firstRow; row < batch; row += rowStride) {
    const float* x = states + row * in;
    const unsigned int obs = (unsigned int)__ldg(observers + row);
    float z[POLICY_MAX_OUT];
#pragma unroll
    for (int o = 0; o < POLICY_MAX_OUT; ++o) z[o] = 0.0f;

    // units in increasing j per lane (g outer, w inner), the order of policy_act's loop
    for (int g = 0; 128 * g < hidden; ++g) {
      const uint4 r = philox4x32_10(make_uint4(stepLo, stepHi, obs, 32u * g + lane), key);
      const unsigned int words[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        const int j = 128 * g + 32 * w + lane;
        if (j < hidden) {
          const float s = keyed_uniform(words[w]) < keep ? keptValue : 0.0f;
          float acc = 0.0f;
          const float* wr = W1 + j * in;
          for (int i = 0; i < in; ++i) acc = __fadd_rn(acc, __fmul_rn(wr[i], __ldg(x + i)));
          float h = __fmul_rn(__fadd_rn(acc, B1[j]), s);
          h = h > 0.0f ? h : 0.0f;
#pragma unroll
          for (int o = 0; o < POLICY_MAX_OUT; ++o) {
            if (o < out) z[o] = __fadd_rn(z[o], __fmul_rn(W2[o * hidden + j], h));
          }
        }
      }
    }
    // Warp tree reduction of each logit's 32 lane partials; every lane ends with the full sum.
#pragma unroll
    for (int o = 0; o < POLICY_MAX_OUT; ++o) {
      if (o < out) {
        float v = z[o];
        for (int off = 16; off > 0; off >>= 1) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
        z[o] = __fadd_rn(v, B2[o]);
      }
    }
    if (lane == 0) {
      const float u =
          keyed_uniform(philox4x32_10(make_uint4(stepLo, stepHi, obs, KEYED_SAMPLE_BLOCK), key).x);
      float mx = z[0];
      for (int o = 1; o < out; ++o) mx = fmaxf(mx, z[o]);
      float total = 0.0f;
#pragma unroll
      for (int o = 0; o < POLICY_MAX_OUT; ++o) {
        if (o < out) {
          z[o] = expf(__fsub_rn(z[o], mx));
          total = __fadd_rn(total, z[o]);
        }
      }
      const float inv = __fdiv_rn(1.0f, total);
      float cum = 0.0f;
      int action = out - 1;
      bool chosen = false;
#pragma unroll
      for (int o = 0; o < POLICY_MAX_OUT; ++o) {
        if (o < out) {
          const float p = __fmul_rn(z[o], inv);
          probsOut[row * out + o] = p;
          cum = __fadd_rn(cum, p);
          if (!chosen && u < cum) {
            action = o;
            chosen = true;
          }
        }
      }
      actionsOut[row] = action;
    }
  }
}
