"""Learning-rate schedules (visionkit seed package)."""

import math


def warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * (step + 1) / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(progress, 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_lr + (base_lr - min_lr) * cosine


class StepSchedule:
    """Multiply the learning rate by gamma every `every` epochs."""

    def __init__(self, optimizer, every, gamma=0.1, warmup_epochs=0):
        self.optimizer = optimizer
        self.every = every
        self.gamma = gamma
        self.warmup_epochs = warmup_epochs
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]

    def lr_at(self, epoch):
        lrs = []
        for base in self.base_lrs:
            if epoch < self.warmup_epochs:
                lrs.append(base * (epoch + 1) / self.warmup_epochs)
            else:
                lrs.append(base * self.gamma ** ((epoch - self.warmup_epochs) // self.every))
        return lrs

    def step(self, epoch):
        for group, lr in zip(self.optimizer.param_groups, self.lr_at(epoch)):
            group["lr"] = lr
        return [group["lr"] for group in self.optimizer.param_groups]


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
