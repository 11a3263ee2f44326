"""Comment-to-buy's matching rules (orders/chat_buy.py, docs/architecture.md): which chat lines
are buy commands, their quantity, and the pinned product's variant they name."""

from __future__ import annotations

import pytest

from orders.chat_buy import Command, Hint, Matched, Variant, match_variant, parse_command

SHIRT = [
    Variant(1, {"colour": "Blue", "size": "M"}, True),
    Variant(2, {"colour": "Blue", "size": "L"}, True),
    Variant(3, {"colour": "Red", "size": "M"}, True),
    Variant(4, {"colour": "Red", "size": "XL"}, False),
]
SHIRT_ZH = [
    Variant(11, {"颜色": "蓝色", "尺码": "M"}, True),
    Variant(12, {"颜色": "蓝色", "尺码": "L"}, True),
    Variant(13, {"颜色": "红色", "尺码": "M"}, True),
]
MUG = [Variant(21, {}, True)]


def match(text: str, variants: list[Variant], max_quantity: int = 10) -> Matched | Hint | None:
    command = parse_command(text)
    return None if command is None else match_variant(command, variants,
                                                      max_quantity=max_quantity)


@pytest.mark.parametrize("text", ["hello", "buying it later", "nice blue M", "+", "buyer",
                                  "i want to buy", "1+1"])
def test_an_ordinary_line_is_no_command(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize(("text", "command"), [
    ("buy 2 blue M", Command(2, "blue m")),
    ("BUY blue m", Command(1, "blue m")),
    ("buy x3 red", Command(3, "red")),
    ("buy two red M", Command(2, "red m")),
    ("买2 蓝色 M", Command(2, "蓝色 m")),
    ("买两件蓝色M", Command(2, "蓝色m")),
    ("购买 3个 红色 M", Command(3, "红色 m")),
    ("+1", Command(1, "")),
    ("\uff0b\uff12", Command(2, "")),  # full-width +2
    ("+2 blue L", Command(2, "blue l")),
    ("buy 2XL", Command(1, "2xl")),
])
def test_a_buy_line_gives_its_quantity_and_option_words(text: str, command: Command) -> None:
    assert parse_command(text) == command


def test_the_options_name_one_variant_in_any_order_and_case() -> None:
    assert match("buy 2 blue M", SHIRT) == Matched(1, 2)
    assert match("buy m BLUE", SHIRT) == Matched(1, 1)
    assert match("buy 1 Red, M", SHIRT) == Matched(3, 1)


def test_chinese_option_values_match_without_spaces() -> None:
    assert match("买2 蓝色 M", SHIRT_ZH) == Matched(11, 2)
    assert match("买两件蓝色L", SHIRT_ZH) == Matched(12, 2)
    assert match("我要买 红色 M", SHIRT_ZH) == Matched(13, 1)


def test_plus_one_buys_the_only_variant() -> None:
    assert match("+1", MUG) == Matched(21, 1)
    assert match("+3", MUG) == Matched(21, 3)


def test_two_variants_matching_is_ambiguous_and_names_the_missing_option() -> None:
    assert match("buy blue", SHIRT) == Hint("ambiguous", {"options": "size", "count": 2})
    assert match("+1", SHIRT) == Hint("ambiguous", {"options": "colour, size", "count": 3})


def test_an_unknown_size_is_named() -> None:
    assert match("buy 2 blue XXL", SHIRT) == Hint("unknown_option", {"word": "xxl"})


def test_a_size_is_a_whole_word_not_a_letter_of_another() -> None:
    # `m` is not found inside `medium`, which is no option of the shirt.
    assert match("buy blue medium", SHIRT) == Hint("unknown_option", {"word": "medium"})


def test_a_combination_that_does_not_exist_matches_nothing() -> None:
    assert match("buy blue XL", SHIRT) == Hint("no_match")


def test_an_inactive_variant_is_named() -> None:
    assert match("buy red XL", SHIRT) == Hint("variant_inactive")


@pytest.mark.parametrize("text", ["buy 0 blue M", "+0", "buy 11 blue M", "+11"])
def test_a_quantity_out_of_range_is_refused(text: str) -> None:
    assert match(text, SHIRT) == Hint("quantity_range", {"max": 10})


def test_a_product_without_variants_has_nothing_to_buy() -> None:
    assert match("+1", []) == Hint("no_variant")


def test_a_chat_frame_may_name_its_own_id_for_a_resend() -> None:
    from realtime.protocol import BadFrame, ChatFrame, parse_client_frame

    assert parse_client_frame('{"type": "chat", "text": "+1", "id": "line-1_a"}',
                               max_bytes=2000) == ChatFrame("+1", "line-1_a")
    assert parse_client_frame('{"type": "chat", "text": "+1"}', max_bytes=2000) == ChatFrame("+1")
    for bad in ('"has space"', '""', "7", '"' + "x" * 65 + '"'):
        with pytest.raises(BadFrame) as refused:
            parse_client_frame('{"type": "chat", "text": "+1", "id": ' + bad + "}",
                               max_bytes=2000)
        assert (refused.value.code, refused.value.field) == ("invalid", "id")


@pytest.mark.parametrize(("text", "variant_id"), [
    ("买2 蓝色 M", 1), ("买 蓝 中号", 1), ("buy 红色 m", 3), ("买一件蓝色大号", 2),
    ("buy blue L", 2),
])
def test_colours_and_sizes_match_across_chinese_and_english(text: str, variant_id: int) -> None:
    # the host typed English values; viewers write either language
    result = match(text, SHIRT)
    assert isinstance(result, Matched) and result.variant_id == variant_id


def test_english_words_match_values_typed_in_chinese() -> None:
    assert match("buy 2 blue M", SHIRT_ZH) == Matched(11, 2)
    assert match("buy red m", SHIRT_ZH) == Matched(13, 1)
    assert match("买 蓝 中号", SHIRT_ZH) == Matched(11, 1)


def test_a_longer_size_word_is_not_read_as_a_shorter_one() -> None:
    sizes = [Variant(31, {"size": "L"}, True), Variant(32, {"size": "XL"}, True)]
    assert match("买 加大号", sizes) == Matched(32, 1)
    assert match("买 大号", sizes) == Matched(31, 1)
    black_white = [Variant(41, {"colour": "Black"}, True), Variant(42, {"colour": "White"}, True)]
    assert match("买 黑", black_white) == Matched(41, 1)
    assert match("buy 白色", black_white) == Matched(42, 1)


@pytest.mark.parametrize("text", ["买了吗", "买了吗\uff1f", "buy?", "buy 2 blue M?", "买了",
                                  "买不买", "买过", "+1吗", "能买吗"])
def test_a_question_or_report_about_buying_is_no_command(text: str) -> None:
    assert parse_command(text) is None
