"""The quoting layer: every value that reaches a remote shell is quoted by sh()."""
import shlex

import pytest

from fabfile.knowledge import shell

HOSTILE = ["a b", "x;id>/tmp/pwn", "$(id)", "`id`", "it's", "line\nnext", "-rf", "*", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_comes_back_as_one_word_exactly(value):
    command = shell.sh("printf %s {value}", value=value)
    assert shlex.split(command) == ["printf", "%s", value]


def test_lists_are_words_and_commands_go_in_as_built():
    inner = shell.sh("cat {path}", path="/a b")
    command = shell.sh("{cmd} | grep {args}", cmd=inner, args=["-e", "x y"])
    assert command == "cat '/a b' | grep -e 'x y'"
    assert isinstance(command, shell.Command)


def test_templates_take_plain_names_only():
    with pytest.raises(ValueError):
        shell.sh("{value.__class__}", value="x")
    with pytest.raises(ValueError):
        shell.sh("{value!r}", value="x")
    with pytest.raises(ValueError):
        shell.sh("{value:>10}", value="x")
    with pytest.raises(TypeError):
        shell.sh("{value}", value=None)
    assert shell.sh("${{x%/*}}") == "${x%/*}"


def test_join_takes_only_built_commands():
    assert shell.join([shell.sh("a"), shell.sh("b {x}", x="c d")], " && ") == "a && b 'c d'"
    with pytest.raises(TypeError):
        shell.join([shell.sh("a"), "b"])


@pytest.mark.parametrize("pattern", ["/usr/lib/postgresql/*/bin", "/usr/pgsql-1?/bin"])
def test_globs_of_plain_characters_stay_unquoted(pattern):
    assert shell.glob(pattern) == pattern


@pytest.mark.parametrize("pattern", ["/usr/$(id)/bin", "relative/*", "/a b", "/x;id", "/x\n"])
def test_globs_that_could_be_code_are_refused(pattern):
    with pytest.raises(ValueError):
        shell.glob(pattern)


def test_no_step_hands_a_host_a_command_it_built_itself():
    """Host refuses a str at run time; this finds one at test time, in code
    paths a test may not reach: a literal or f-string given to a host door."""
    import ast
    from pathlib import Path
    doors = {"query", "change"}
    found = []
    for path in Path(shell.__file__).resolve().parents[1].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in doors and node.args \
                    and isinstance(node.args[0], (ast.JoinedStr, ast.Constant, ast.BinOp)):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
