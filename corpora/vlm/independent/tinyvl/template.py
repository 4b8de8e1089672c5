"""ChatML-style conversations with image slots.

Each image becomes one ``<img>`` marker in the text; ``expand_image_slots`` later widens a
marker to as many image-token ids as the bridge produces for that image.
"""

from dataclasses import dataclass, field

IMG_MARK = "<img>"
START, END = "<|im_start|>", "<|im_end|>"


@dataclass
class Turn:
    role: str
    text: str
    n_images: int = 0


@dataclass
class Conversation:
    system: str = "You are a helpful assistant that looks carefully at images."
    turns: list = field(default_factory=list)

    def user(self, text, n_images=0):
        self.turns.append(Turn("user", text, n_images))
        return self

    def assistant(self, text):
        self.turns.append(Turn("assistant", text))
        return self

    def render(self, open_assistant=True):
        out = [f"{START}system\n{self.system}{END}"]
        for t in self.turns:
            out.append(f"{START}{t.role}\n{IMG_MARK * t.n_images}{t.text}{END}")
        if open_assistant:
            out.append(f"{START}assistant\n")
        return "\n".join(out)

    def assistant_char_spans(self):
        """Character ranges of assistant replies in ``render(False)``: what the loss sees."""
        text, spans, pos = "", [], 0
        pieces = [f"{START}system\n{self.system}{END}"]
        for t in self.turns:
            head = f"{START}{t.role}\n{IMG_MARK * t.n_images}"
            pieces.append(head + t.text + END)
        for i, piece in enumerate(pieces):
            if i:
                pos += 1  # the joining newline
            if i and self.turns[i - 1].role == "assistant":
                start = pos + len(piece) - len(self.turns[i - 1].text) - len(END)
                spans.append((start, start + len(self.turns[i - 1].text) + len(END)))
            pos += len(piece)
        return spans


def expand_image_slots(ids, image_token_id, tokens_per_image):
    """Repeat each image-token id so that image i occupies tokens_per_image[i] positions."""
    out, k = [], 0
    for tid in ids:
        if tid == image_token_id:
            out.extend([image_token_id] * tokens_per_image[k])
            k += 1
        else:
            out.append(tid)
    if k != len(tokens_per_image):
        raise ValueError(f"{len(tokens_per_image)} images but {k} markers in the prompt")
    return out
