"""`TorchAdam`: Adam with PyTorch's update, for ports whose reference optimiser is `torch.optim.Adam`.

MindSpore's `nn.Adam` differs from torch's in two ways that matter for StyleGAN2-ADA: it refuses beta1 = 0
(NVlabs trains with betas (0, 0.99)), and it adds eps to √v before the bias correction (TF style, an effective
eps of eps/√(1−β2^t)). This optimiser computes torch's (stylegan2-ada's torch 1.7-1.9) step for every parameter:

    m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,  t ← t + 1
    p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + eps)

The step count is the optimiser's `global_step` (in checkpoints, as nn.Adam's), the moments are `moment1.*` and
`moment2.*`. Like nn.Adam it updates every parameter it holds on every call; torch skips parameters whose `.grad`
is None (see families/stylegan2.py for why that never differs there).
"""
from __future__ import annotations

import mindspore as ms
from mindspore import Tensor, nn, ops
from mindspore.ops import composite as C
from mindspore.ops import functional as F

_torch_adam = C.MultitypeFuncGraph("torch_adam")


@_torch_adam.register("Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor")
def _update(beta1, beta2, eps, step_size, bias_correction2_sqrt, param, m, v, grad):
    next_m = beta1 * m + (1.0 - beta1) * grad
    next_v = beta2 * v + (1.0 - beta2) * ops.square(grad)
    denom = ops.sqrt(next_v) / bias_correction2_sqrt + eps
    next_param = param - step_size * (next_m / denom)  # torch: param.addcdiv_(m, denom, value=-step_size)
    done = F.depend(ops.assign(m, next_m), ops.assign(v, next_v))
    return F.depend(done, ops.assign(param, next_param))


class TorchAdam(nn.Optimizer):
    """`TorchAdam(params, learning_rate, beta1, beta2, eps)` with 0 <= beta1, beta2 < 1 and a fixed learning rate."""

    def __init__(self, params, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(learning_rate, params)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"TorchAdam betas must be in [0, 1), got ({beta1}, {beta2})")
        if not eps > 0:
            raise ValueError(f"TorchAdam eps must be > 0, got {eps}")
        self.beta1 = Tensor(beta1, ms.float32)
        self.beta2 = Tensor(beta2, ms.float32)
        self.eps = Tensor(eps, ms.float32)
        self.moment1 = self._parameters.clone(prefix="moment1", init="zeros")
        self.moment2 = self._parameters.clone(prefix="moment2", init="zeros")

    def construct(self, gradients):
        lr = self.get_lr()
        t = ops.cast(self.global_step + 1, ms.float32).reshape(())
        step_size = lr / (1.0 - ops.pow(self.beta1, t))
        bias_correction2_sqrt = ops.sqrt(1.0 - ops.pow(self.beta2, t))
        updated = self.map_(F.partial(_torch_adam, self.beta1, self.beta2, self.eps, step_size,
                                      bias_correction2_sqrt), self._parameters, self.moment1, self.moment2, gradients)
        return F.depend(updated, self.assignadd(self.global_step, self.global_step_increase_tensor))
