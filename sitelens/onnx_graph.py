"""What an exported ONNX graph offers a node: its tensors, opset and operators, checked by ONNX Runtime.

`sitelens models init` reads a user's graph here before it writes any manifest. The graph is opened twice:
with the `onnx` package (the opset, every operator, down into subgraphs, compared with onnx's own schemas)
and with an ONNX Runtime session on the CPU provider, the same runtime a node loads it with: what that
session cannot build (an operator or type without a kernel, NOT_IMPLEMENTED) a node cannot serve either.
The session is kept, so the graph can also be run on blank inputs (`GraphInfo.run_error`): a batch axis the
graph declares dynamic may still be fixed inside it, and only a run tells.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
from onnx import external_data_helper

Dim = int | str | None  # a static size, a symbolic name, or unknown
ONNX_DOMAINS = ("", "ai.onnx")
CHECKED_DOMAINS = (*ONNX_DOMAINS, "ai.onnx.ml")  # domains whose schemas the onnx package ships


class GraphRefused(ValueError):
    """The graph cannot be served as the kind asked for; the message says why and what to do."""


@dataclass(frozen=True)
class Tensor:
    name: str
    type: str  # ONNX Runtime's spelling: "tensor(float)"
    shape: tuple[Dim, ...]

    def static(self, axis: int) -> int | None:
        """The axis's size when the graph fixes it, else None."""
        dim = self.shape[axis]
        return dim if isinstance(dim, int) and dim > 0 else None

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} {self.type} [{dims}]"


@dataclass(frozen=True)
class GraphInfo:
    path: Path
    opset: int
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    operators: frozenset[tuple[str, str]]  # (domain, op type)
    metadata: dict[str, str]
    softmax_outputs: frozenset[str]  # outputs a Softmax node writes: probabilities already
    session: ort.InferenceSession = field(repr=False, compare=False)

    def run_error(self, batch: int, layout: str, size: tuple[int, int]) -> str | None:
        """Why ONNX Runtime cannot run the graph on `batch` blank images of this layout and size; None when it
        runs. The one input is float32 (`model_shapes.graph_input` checked it)."""
        height, width = size
        shape = (batch, 3, height, width) if layout == "NCHW" else (batch, height, width, 3)
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # the error is returned; ORT's own log line would only repeat it
        try:
            self.session.run(None, {self.inputs[0].name: np.zeros(shape, np.float32)}, quiet)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind types (InvalidArgument, Fail, ...)
            return f"{type(exc).__name__}: {exc}"
        return None

    def output(self, name: str | None) -> Tensor:
        if name is None:
            if len(self.outputs) != 1:
                names = ", ".join(o.name for o in self.outputs)
                raise GraphRefused(f"the graph has {len(self.outputs)} outputs ({names}); name one with --output-name")
            return self.outputs[0]
        for tensor in self.outputs:
            if tensor.name == name:
                return tensor
        raise GraphRefused(f"the graph has no output named {name!r} (it has {', '.join(o.name for o in self.outputs)})")

    def class_names(self) -> list[str] | None:
        """Class names an exporter embedded (Ultralytics writes `names` as a dict literal), else None."""
        raw = self.metadata.get("names")
        if not raw:
            return None
        try:
            names = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None
        if isinstance(names, dict) and sorted(names) == list(range(len(names))):
            return [str(names[i]) for i in range(len(names))]
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return list(names)
        return None


def _nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node, those of If/Loop/Scan bodies included."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _nodes(sub)


PASS_THROUGH = frozenset({"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"})  # values unchanged


def _after_softmax(graph: onnx.GraphProto, output: str) -> bool:
    """Whether a Softmax writes `output`, directly or through ops that only reshape (exporters add them)."""
    producers = {o: n for n in graph.node for o in n.output}
    node = producers.get(output)
    while node is not None and node.op_type in PASS_THROUGH and node.input:
        node = producers.get(node.input[0])
    return node is not None and node.op_type == "Softmax"


def unknown_operators(model: onnx.ModelProto) -> list[str]:
    """Operators of onnx's own domains that no schema defines at the model's opset (`domain:Op@version`)."""
    versions = {imp.domain or "": imp.version for imp in model.opset_import}
    unknown = set()
    for node in _nodes(model.graph):
        domain = "" if node.domain in ONNX_DOMAINS else node.domain
        if domain not in CHECKED_DOMAINS:
            continue  # a custom domain: only ONNX Runtime can say whether it has a kernel
        version = versions.get(domain, versions.get("ai.onnx", 0))
        try:
            onnx.defs.get_schema(node.op_type, version, domain)
        except onnx.defs.SchemaError:
            unknown.add(f"{node.op_type}@{version}" if not domain else f"{domain}:{node.op_type}@{version}")
    return sorted(unknown)


def _session(path: Path, model: onnx.ModelProto) -> ort.InferenceSession:
    """A CPU session, as a node would build one; its refusal is the graph's refusal, with the operators
    onnx's schemas do not know (or that live in custom domains) named beside ONNX Runtime's own message."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the refusal is reported below; ORT's own warnings only repeat it
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own pybind types (NotImplemented, InvalidGraph, Fail)
        found = [f"unknown to ONNX at the graph's opset: {', '.join(u)}" for u in [unknown_operators(model)] if u]
        found += [f"in custom domains: {', '.join(c)}" for c in [custom_operators(model)] if c]
        named = f" (operators {'; '.join(found)})" if found else ""
        if type(exc).__name__ == "NotImplemented" or "NOT_IMPLEMENTED" in str(exc):
            raise GraphRefused(f"ONNX Runtime {ort.__version__} has no kernel for an operator of this graph{named}: "
                               f"{exc}. Export with operators and tensor types the runtime implements "
                               "(float32 on the CPU provider)") from exc  # fmt: skip
        raise GraphRefused(f"ONNX Runtime {ort.__version__} cannot load the graph{named}: {exc}") from exc


def external_files(model: onnx.ModelProto) -> list[str]:
    """The files the graph's tensors keep their data in (their `location`s, as ONNX Runtime resolves them beside
    the graph): initializers and constants of If/Loop/Scan bodies and of functions included, walked by onnx's
    own loader's walk."""
    helper = external_data_helper
    tensors = [t for t in helper._get_all_tensors(model) if helper.uses_external_data(t)]
    return sorted({Path(helper.ExternalDataInfo(t).location).as_posix() for t in tensors})


def custom_operators(model: onnx.ModelProto) -> list[str]:
    """Operators outside onnx's domains (`domain:Op`): only a runtime with their kernels can serve them."""
    return sorted({f"{n.domain}:{n.op_type}" for n in _nodes(model.graph) if n.domain not in CHECKED_DOMAINS})


def _tensor(arg: ort.NodeArg) -> Tensor:
    shape = tuple(d if isinstance(d, int | str) else None for d in (arg.shape or ()))
    return Tensor(arg.name, str(arg.type), shape)


def inspect(path: Path) -> GraphInfo:
    """Read the graph at `path`; raises GraphRefused when it is unreadable or ONNX Runtime cannot load it."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        raise GraphRefused(f"{path} is not an ONNX model: {exc}") from exc
    if external := external_files(model):
        raise GraphRefused(f"the graph keeps its weights in external data files ({', '.join(external)}); "
                           "export it as one .onnx file")  # fmt: skip
    session = _session(path, model)
    softmax = frozenset(o.name for o in model.graph.output if _after_softmax(model.graph, o.name))
    return GraphInfo(
        path=path,
        opset=next((i.version for i in model.opset_import if i.domain in ONNX_DOMAINS), 0),
        inputs=tuple(_tensor(a) for a in session.get_inputs()),
        outputs=tuple(_tensor(a) for a in session.get_outputs()),
        operators=frozenset((n.domain or "", n.op_type) for n in _nodes(model.graph)),
        metadata={p.key: p.value for p in model.metadata_props},
        softmax_outputs=softmax,
        session=session,
    )
