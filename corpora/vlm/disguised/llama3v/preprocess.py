"""Prompt formatting and pixel preprocessing for Llama3V."""

import numpy
import torch
from PIL import Image
from torch.nn.functional import unfold

from .image_ops import choose_layout, tile_picture
from .settings import Llama3VSettings

TURN_END = "<|end|>"
SPEAKER_MARKS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}


def render_dialogue(turns, marker="<image>", open_reply=True):
    if not turns or turns[0]["role"] not in ("user", "system"):
        raise ValueError("a conversation starts with a user or system message")
    chunks, placed = [], False
    for turn in turns:
        speaker, text = turn["role"], turn["content"]
        if speaker not in SPEAKER_MARKS:
            raise ValueError(f"unknown role {speaker!r}")
        if speaker == "user" and not placed:
            text, placed = marker + "\n" + text, True
        chunks.append(f"{SPEAKER_MARKS[speaker]}\n{text}{TURN_END}\n")
    if open_reply:
        chunks.append(SPEAKER_MARKS["assistant"] + "\n")
    return "".join(chunks)


class Llama3VPreprocessor:
    def __init__(self, settings: Llama3VSettings, tok) -> None:
        self.settings, self.tok = settings, tok
        self.patch = settings.patch
        self.pixel_mean = numpy.asarray(settings.pixel_mean, dtype=numpy.float32).reshape(3, 1, 1)
        self.pixel_std = numpy.asarray(settings.pixel_std, dtype=numpy.float32).reshape(3, 1, 1)

    def overview_marker(self) -> str:
        s = self.settings
        return s.open_image + s.filler * s.latent_count + s.close_image

    def tile_marker(self) -> str:
        s = self.settings
        return s.open_tile + s.filler * s.latent_count + s.close_tile

    def expand_image_marker(self, size: tuple[int, int]) -> str:
        layout = choose_layout(
            size, self.settings.max_tiles, self.settings.tile_side, keep_whole=not self.settings.tiling
        )
        out = self.overview_marker()
        if layout is not None:
            across, down = layout
            out += "\n" + "\n".join([self.tile_marker() * across for _ in range(down)])
        return out

    def normalise(self, img: Image.Image) -> numpy.ndarray:
        arr = numpy.asarray(img, dtype=numpy.float32) / 255.0
        arr = arr.transpose(2, 0, 1)
        return (arr - self.pixel_mean) / self.pixel_std

    def fold_patches(self, t: torch.Tensor) -> torch.Tensor:
        p, c = self.patch, t.size(0)
        cols = unfold(t.unsqueeze(0), (p, p), stride=(p, p)).reshape(c, p, p, -1)
        return cols.permute(0, 1, 3, 2).reshape(c, p, -1)

    def prepare_picture(self, img):
        overview, tiles, _ = tile_picture(
            img,
            self.settings.max_tiles,
            self.settings.tile_side,
            self.patch,
            keep_whole=not self.settings.tiling,
        )
        arrays, grids = [], []
        for pic in [overview] + [t for strip in tiles for t in strip]:
            grids.append((pic.size[1] // self.patch, pic.size[0] // self.patch))
            arrays.append(torch.from_numpy(self.normalise(pic)))
        return arrays, grids

    def placeholder_spans(self, ids):
        to_id, s = self.tok.convert_tokens_to_ids, self.settings
        closers = {to_id(s.close_image), to_id(s.close_tile)}
        openers = {to_id(s.open_image), to_id(s.open_tile)}
        seq = ids.tolist()
        finishes = [k for k, t in enumerate(seq) if t in closers]
        begins = [k + 1 for k, t in enumerate(seq) if t in openers]
        n = min(len(begins), len(finishes))
        if n == 0:
            return torch.zeros((0, 2), dtype=torch.long)
        return torch.tensor(list(zip(begins[:n], finishes[:n])), dtype=torch.long)

    def _encode_one(self, utterance, img):
        pix, grids = [], []
        if img is not None:
            pix, grids = self.prepare_picture(img)
            utterance = utterance.replace(self.settings.open_image, self.expand_image_marker(img.size), 1)
        token_ids = torch.tensor(self.tok.encode(utterance), dtype=torch.long)
        return token_ids, self.placeholder_spans(token_ids), pix, torch.tensor(grids, dtype=torch.int32).reshape(-1, 2)

    def __call__(self, texts, imgs):
        batch = {"input_ids": [], "image_bound": [], "pixel_values": [], "tgt_sizes": []}
        for utterance, img in zip(texts, imgs):
            for key, value in zip(batch, self._encode_one(utterance, img)):
                batch[key].append(value)
        return batch
