"""The MiniVLM model: vision tower -> resampler -> the language model's embedding space.

The language model is any causal LM with ``get_input_embeddings()`` and ``generate()``
accepting ``inputs_embeds``; image tokens replace the unk placeholders the processor put
in the prompt.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from .configuration import MiniVLMConfig
from .resampler import Resampler
from .vision import VisionEncoder

logger = logging.getLogger(__name__)

ROLE_TAGS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END_OF_TURN = "<|end|>"


def build_chat_prompt(msgs: list[dict], image_token: str = "<image>", add_generation_prompt: bool = True) -> str:
    """Render a conversation; the first user turn gets the image marker in front."""
    if not msgs or msgs[0]["role"] not in ("user", "system"):
        raise ValueError("a conversation starts with a user or system message")
    parts = []
    image_placed = False
    for msg in msgs:
        role, content = msg["role"], msg["content"]
        if role not in ROLE_TAGS:
            raise ValueError(f"unknown role {role!r}")
        if role == "user" and not image_placed:
            content = image_token + "\n" + content
            image_placed = True
        parts.append(f"{ROLE_TAGS[role]}\n{content}{END_OF_TURN}\n")
    if add_generation_prompt:
        parts.append(ROLE_TAGS["assistant"] + "\n")
    return "".join(parts)


class MiniVLM(nn.Module):
    """Vision encoder, resampler and a causal language model glued at the embedding layer."""

    def __init__(self, config: MiniVLMConfig, llm: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.llm = llm
        self.vpm = VisionEncoder(config.vision)
        self.resampler = Resampler(
            num_queries=config.query_num,
            embed_dim=config.lm_hidden_size,
            num_heads=config.resampler_heads,
            kv_dim=config.vision.hidden_size,
            max_size=config.max_pos_grid,
        )
        self.terminators = [config.eos_token_id]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def get_vision_embedding(self, pixel_values: list[torch.Tensor]) -> torch.Tensor:
        """(N images) -> (N, query_num, lm_hidden) resampled image tokens."""
        dtype = self.resampler.query.dtype
        pixel_values = [p.to(self.device, dtype) for p in pixel_values]
        features, tgt_sizes = self.vpm(pixel_values)
        return self.resampler(features, tgt_sizes)

    def get_vllm_embedding(self, data: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Token embeddings with each placeholder run overwritten by its image tokens."""
        vision_hidden_states = []
        for pixels in data["pixel_values"]:
            if len(pixels) > 0:
                vision_hidden_states.append(self.get_vision_embedding(pixels))
            else:
                vision_hidden_states.append(torch.empty(0, self.config.query_num, self.config.lm_hidden_size))

        embed = self.llm.get_input_embeddings()
        inputs_embeds = embed(data["input_ids"])
        for i, bounds in enumerate(data["image_bound"]):
            if len(bounds) == 0:
                continue
            image_tokens = vision_hidden_states[i].to(inputs_embeds.dtype)
            positions = torch.cat([torch.arange(s, e, device=inputs_embeds.device) for s, e in bounds.tolist()])
            inputs_embeds[i, positions] = image_tokens.reshape(-1, image_tokens.shape[-1])
        return inputs_embeds, vision_hidden_states

    def forward(self, data: dict, **kwargs) -> torch.Tensor:
        inputs_embeds, _ = self.get_vllm_embedding(data)
        return self.llm(inputs_embeds=inputs_embeds, attention_mask=data.get("attention_mask"), **kwargs)

    def _decode(self, inputs_embeds: torch.Tensor, tokenizer, attention_mask=None, **kwargs) -> list[str]:
        output = self.llm.generate(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            pad_token_id=self.config.pad_token_id,
            eos_token_id=self.terminators,
            **kwargs,
        )
        return [self._clean(tokenizer.decode(seq, skip_special_tokens=False)) for seq in output]

    def _clean(self, text: str) -> str:
        for tag in (END_OF_TURN, *ROLE_TAGS.values()):
            text = text.replace(tag, "")
        return text.strip()

    @torch.inference_mode()
    def generate(self, input_ids, pixel_values, image_bound, tokenizer, attention_mask=None, **kwargs) -> list[str]:
        if len(input_ids) != len(pixel_values):
            raise ValueError("input_ids and pixel_values must have the same batch size")
        padded = nn.utils.rnn.pad_sequence(input_ids, batch_first=True, padding_value=self.config.pad_token_id)
        data = {"input_ids": padded.to(self.device), "pixel_values": pixel_values, "image_bound": image_bound}
        inputs_embeds, _ = self.get_vllm_embedding(data)
        return self._decode(inputs_embeds, tokenizer, attention_mask, **kwargs)

    def chat(self, image, msgs: list[dict], tokenizer, processor, max_new_tokens: int = 1024, sampling: bool = True, **kwargs) -> str:
        """One answer to a conversation about one image."""
        prompt = build_chat_prompt(msgs, image_token=self.config.im_start_token)
        inputs = processor([prompt], [image])
        if sampling:
            generation = {"top_p": 0.8, "top_k": 100, "temperature": 0.7, "do_sample": True, "repetition_penalty": 1.05}
        else:
            generation = {"num_beams": 3, "repetition_penalty": 1.2}
        generation.update(kwargs)
        answers = self.generate(
            inputs["input_ids"],
            inputs["pixel_values"],
            inputs["image_bound"],
            tokenizer,
            max_new_tokens=max_new_tokens,
            **generation,
        )
        return answers[0]
