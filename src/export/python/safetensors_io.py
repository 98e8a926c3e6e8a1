"""The safetensors format (huggingface/safetensors, README "Format") in plain Python, so the exported project
needs only torch: 8 bytes of header length (little-endian u64), a JSON header padded with spaces to 8 bytes, then
the tensors' little-endian bytes in C order. Tensors are written in the reference implementation's order
(descending dtype alignment, then name), the same bytes the lab's writer (src/checkpoint/safetensors.ts) gives.
"""
import json
import os
import struct

import torch

# The reference's increasing-alignment order; only the dtypes torch has a type for are read and written.
ORDER = ['BOOL', 'U8', 'I8', 'I16', 'F16', 'BF16', 'I32', 'F32', 'F64', 'I64']
TORCH = {
    'BOOL': torch.bool, 'U8': torch.uint8, 'I8': torch.int8, 'I16': torch.int16, 'F16': torch.float16,
    'BF16': torch.bfloat16, 'I32': torch.int32, 'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64,
}
NAME = {v: k for k, v in TORCH.items()}
MAX_HEADER_BYTES = 100_000_000


def load(path):
    """-> (tensors by name, __metadata__ dict). Fails naming the file on anything the format does not allow."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f'{path}: {len(data)} bytes, shorter than the 8-byte header length')
    (n,) = struct.unpack('<Q', data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise ValueError(f'{path}: header length {n} is corrupt or runs past the end of the file ({len(data)} bytes)')
    header = json.loads(data[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', {}) or {}
    start = 8 + n
    tensors = {}
    for name, info in header.items():
        if info['dtype'] not in TORCH:
            raise ValueError(f"{path}: tensor '{name}' has dtype {info['dtype']}; this reader knows {', '.join(ORDER)}")
        begin, end = info['data_offsets']
        dtype = TORCH[info['dtype']]
        count = 1
        for d in info['shape']:
            count *= d
        if end - begin != count * torch.tensor([], dtype=dtype).element_size() or start + end > len(data):
            raise ValueError(f"{path}: tensor '{name}' data_offsets [{begin}, {end}] do not fit {info['dtype']} {info['shape']}")
        # bytearray: torch.frombuffer wants writable memory, and the tensor must not alias the file's bytes.
        raw = bytearray(data[start + begin:start + end])
        flat = torch.frombuffer(raw, dtype=dtype) if count else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info['shape'])
    return tensors, metadata


def save(path, tensors, metadata=None):
    """Write atomically (temporary file, fsync, rename), so an interrupted save leaves the previous file."""
    for k, v in (metadata or {}).items():
        if not isinstance(v, str):
            raise TypeError(f"__metadata__['{k}'] is {type(v).__name__}; the format allows only strings")
    items = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    for name, t in items.items():
        if t.dtype not in NAME:
            raise TypeError(f"tensor '{name}' has dtype {t.dtype}; this writer knows {', '.join(ORDER)}")
    names = sorted(items, key=lambda n: (-ORDER.index(NAME[items[n].dtype]), n))
    header = {}
    if metadata is not None:
        header['__metadata__'] = dict(metadata)
    offset = 0
    for name in names:
        t = items[name]
        size = t.numel() * t.element_size()
        header[name] = {'dtype': NAME[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for name in names:
            f.write(items[name].reshape(-1).view(torch.uint8).numpy().tobytes() if items[name].numel() else b'')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
