"""One generated Python function per object mapping, for the two things the push does per record.

Mapping a record to its payload and working out what that payload reads back
as were a loop over the object's fields, with a closure call per field
(``_bind``'s ``bound``) and per value (``get``): at 10-15 fields a record
and two systems, the loop's own overhead cost as much as the transforms it
called. Here the loop is unrolled once per object mapping into the source
of a function (field names, output keys and defaults as constants, each
transform called directly with its parsed params), compiled with
``compile`` and kept on the mapping. The generated code follows
``ObjectMapping._write`` (still the loop for the merge's field subsets) and
the push's former read-back loop field for field, and
``tests/mapping/test_mapping_compiled.py`` compares them on the shipped
mappings (the read-back loop lives there, as the reference only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from prm_sync.errors import PrmSyncError
from prm_sync.mapping.context import MappingValueError, TransformContext

if TYPE_CHECKING:
    from prm_sync.mapping.apply import CompiledField, ObjectMapping

Writer = Callable[[Any, TransformContext], dict[str, Any]]
ReadBack = Callable[[dict[str, Any], dict[str, Any], TransformContext], dict[str, Any]]

BLANK = "({v} is None or {v} == '' or {v} == [])"


def _indent(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


def compile_writer(mapping: ObjectMapping, writers: Sequence[CompiledField], *, from_dict: bool) -> Writer:
    """``ObjectMapping._write`` over ``writers``, unrolled: record (a model, or a dict) -> payload."""
    env: dict[str, Any] = {"MappingValueError": MappingValueError, "_error": mapping._error}
    body: list[str] = ["out = {}"]

    def read(name: str) -> str:
        return f"record.get({name!r})" if from_dict else f"getattr(record, {name!r}, None)"

    for k, f in enumerate(writers):
        env[f"f{k}"] = f
        lines: list[str] = []
        if f.to_inputs is not None:
            lines.append("v = {" + ", ".join(f"{n!r}: {read(n)}" for n in f.to_inputs) + "}")
        else:
            lines.append(f"v = {read(f.prm)}" if f.prm is not None else "v = None")
            if f.has_default:
                env[f"d{k}"] = f.default
                lines += [f"if {BLANK.format(v='v')}:", f"    v = d{k}"]
        if f.to_fn is not None:
            env[f"t{k}"], env[f"p{k}"] = f.to_call
            lines += ["try:", f"    v = t{k}(v, p{k}, tctx)", "except MappingValueError as err:",
                      f"    raise _error(err, f{k}) from None"]
        lines.append(f"if {BLANK.format(v='v')}:")
        if f.required:
            lines.append(f"    raise _error(MappingValueError('required value is blank', value=v), f{k})")
        else:
            lines.append(f"    out[{f.remote!r}] = None")  # a blank reference clears the lookup field itself
        lines += ["else:", f"    out[{f.out_key!r}] = v"]
        body += lines
    body.append("return out")
    source = "def write(record, tctx):\n" + "\n".join(_indent(body, 1)) + "\n"
    exec(compile(source, f"<mapping {mapping.system}:{mapping.entity} to_remote>", "exec"), env)
    return env["write"]  # type: ignore[no-any-return]


def compile_read_back(mapping: ObjectMapping, readers: Sequence[CompiledField], normalize: Callable[[Any], Any]) -> ReadBack:
    """The engine's read-back over ``readers``, unrolled: (normalised values, payload) -> the values read back.

    Each field is read back on its own, as ``prm_sync.sync.push._read_back``
    documents: a field whose payload key is missing, or whose transform
    refuses the written value, keeps the PRM value.
    """
    env: dict[str, Any] = {"PrmSyncError": PrmSyncError, "normalize": normalize}
    body: list[str] = []
    for k, f in enumerate(readers):
        convert: list[str] = []
        if f.from_fn is not None:
            env[f"t{k}"], env[f"p{k}"] = f.from_call
            convert += ["try:", f"    v = t{k}(raw, p{k}, tctx)", "except (PrmSyncError, ValueError, TypeError):",
                        "    pass", "else:"]
        else:
            convert += ["v = raw", "if True:"]
        if f.has_default:
            env[f"d{k}"] = f.default
            convert += [f"    if {BLANK.format(v='v')} and not isinstance(v, list):", f"        v = d{k}"]
        convert.append(f"    values[{f.prm!r}] = normalize(v)")
        lines = [f"if {f.prm!r} in values:"]
        if f.from_inputs is not None:
            names = f.from_inputs
            lines.append("    if " + " and ".join(f"{n!r} in payload" for n in names) + ":")
            lines.append("        raw = {" + ", ".join(f"{n!r}: payload[{n!r}]" for n in names) + "}")
            lines += _indent(convert, 2)
        else:
            lines.append(f"    if {f.remote!r} in payload:")
            lines.append(f"        raw = payload[{f.remote!r}]")
            if f.has_default:
                lines += _indent(convert, 2)
            else:
                lines += ["        if raw is None:", f"            values[{f.prm!r}] = None",
                          "        else:"]  # a blank passes every transform untouched (see ``registry``)
                lines += _indent(convert, 3)
        body += lines
    body.append("return values")
    source = "def read_back(values, payload, tctx):\n" + "\n".join(_indent(body, 1)) + "\n"
    exec(compile(source, f"<mapping {mapping.system}:{mapping.entity} read_back>", "exec"), env)
    return env["read_back"]  # type: ignore[no-any-return]
