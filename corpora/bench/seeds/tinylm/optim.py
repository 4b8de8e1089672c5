"""Schedules and EMA for tinylm."""

import math


def lr_lambda(current, warmup, total, floor=0.1):
    if current < warmup:
        return float(current) / float(max(1, warmup))
    remaining = max(0, total - current)
    span = max(1, total - warmup)
    ratio = remaining / span
    return floor + (1 - floor) * 0.5 * (1 - math.cos(math.pi * ratio))


class PolyDecay:
    def __init__(self, optimizer, total, power=1.0, end_lr=1e-7):
        self.optimizer = optimizer
        self.total = total
        self.power = power
        self.end_lr = end_lr
        self.initial = [g["lr"] for g in optimizer.param_groups]
        self.count = 0

    def step(self):
        self.count += 1
        frac = min(self.count, self.total) / self.total
        for group, start in zip(self.optimizer.param_groups, self.initial):
            group["lr"] = (start - self.end_lr) * (1 - frac) ** self.power + self.end_lr
        return self.count


def ema_update(ema_params, params, decay=0.999, step=None):
    """Exponential moving average of weights. Adapted from the common EMA recipe (credited)."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for ema, value in zip(ema_params, params):
        if value.requires_grad:
            ema.mul_(decay).add_(value.detach(), alpha=1 - decay)
        else:
            ema.copy_(value)
    return decay
