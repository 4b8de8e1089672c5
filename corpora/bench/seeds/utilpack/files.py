"""Small file and config utilities (utilpack seed package, unrelated to models)."""

import hashlib
import json
import os


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def load_config(path, defaults=None):
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    merged = dict(defaults or {})
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def find_files(root, suffixes=(".py",), skip_hidden=True):
    found = []
    for folder, dirs, names in os.walk(root):
        if skip_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.endswith(tuple(suffixes)):
                found.append(os.path.join(folder, name))
    return sorted(found)


class RunLog:
    def __init__(self, folder, name="run"):
        self.folder = folder
        self.name = name
        self.rows = []
        os.makedirs(folder, exist_ok=True)

    def add(self, step, **values):
        row = {"step": step}
        row.update({k: float(v) for k, v in values.items()})
        self.rows.append(row)
        return row

    def save(self):
        target = os.path.join(self.folder, f"{self.name}.jsonl")
        with open(target, "w", encoding="utf-8") as handle:
            for row in self.rows:
                handle.write(json.dumps(row) + "\n")
        return target
