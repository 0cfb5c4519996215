"""Which legacy code page a non-UTF-8 export is in.

Excel and older Windows tools re-save chat exports in the system code page: GBK/GB18030
(WeChat, QQ), CP932 (Japanese LINE), CP949 (Korean KakaoTalk), CP950 (Big5, Taiwan and
Hong Kong), cp1251 (Russian, Ukrainian, Bulgarian, Serbian) or cp1252 (Western); older
Linux and Mac tools wrote Japanese in EUC-JP. A strict decode succeeding proves little
(gb18030, cp1251 and cp1252 accept most byte strings), so each candidate's decoding of a
sample is scored: the share of its non-ASCII characters that are common in the language that
code page is for (frequent hanzi, kana, frequent Hangul syllables, CJK punctuation), less
decoding errors. A Western letter counts only outside long runs of non-ASCII characters:
real Western text has an accent here and there, while CJK or Cyrillic bytes read as cp1252
become runs like "ÄãºÃ" or "Ïðèâåò". A Cyrillic letter counts only inside a word of two or
more Cyrillic letters, next to a frequent Cyrillic letter pair: Western accents read as
cp1251 land inside Latin words ("Müller" becomes "Mьller"), CJK bytes give rare pairs and
symbols. EUC-JP and CP932 put kana on different bytes, so each reads the other's kana as
errors or halfwidth katakana, which the kana set leaves out."""

from __future__ import annotations

import codecs
import re

SAMPLE_BYTES = 16384  # how much high-bit text is scored
PIECE_BYTES = 2048  # at most this much from each place a high-bit byte is found
MIN_SCORE = 0.3  # a CJK code page below this never wins

_ZH_HANS = ("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着"
            "事其里所去行过家十用发天如然作方成者多日都三小二无同么经法当起与好看学进种将还分此心前面又定见"
            "只主没公从知使回开长但因问意己什吗呢吧啊哈嗯哦呀啦嘛今明晚早午班吃饭睡觉谢想点样怎现再给把被很"
            "太真最些东西买钱号条间话信朋友老师妈爸哥姐弟妹您她它别让刚已经等快慢走车路收到发送图片视频语音"
            "表情红包转账群聊天消息记录文本格式支持重新导入撤回")
_ZH_HANT = ("的一是不了人我在有他這為之大來以個中上們到說國和地也子時道出而要於就下得可你年生自會那後能對著"
            "事其裡所去行過家十用發天如然作方成者多日都三小二無同麼經法當起與好看學進種將還分此心前面又定見"
            "只主沒公從知使回開長但因問意己什嗎呢吧啊哈嗯哦呀啦嘛今明晚早午班吃飯睡覺謝想點樣怎現再給把被很"
            "太真最些東西買錢號條間話信朋友老師媽爸哥姐弟妹您她它別讓剛已經等快慢走車路收到傳送圖片影音語"
            "貼紅包轉帳群聊天訊息記錄")
_JA_KANJI = "日人今時分行私何見言思来出事気会話大中上下前後明朝夜本当大丈夫写真動画通話送信取消了解電"
_KO = ("이다는에가고하지의을를서요기도한로어나사리자게해아니대있그시수으인없네거내만면제보들되정주우까라여"
       "부전말것안오일생와었과무구할소상습했음좋진짜너무오늘내일뭐왜응네예요죠데서도근데잘못알겠어봐야"
       "세요님사진동영상이모티콘삭제된메시지입니다저장날짜회원대화방")

# Characters every CJK code page is expected to give: CJK and fullwidth punctuation.
_CJK_PUNCT = "".join(chr(c) for c in range(0x3000, 0x3040)) + "".join(chr(c) for c in range(0xFF01, 0xFF5F)) \
    + "\u2018\u2019\u201c\u201d\u2026\u2014\u00b7"
_KANA = "".join(chr(c) for c in range(0x3041, 0x30FF))
_JAMO = "".join(chr(c) for c in range(0x3131, 0x318F))

# (codec, characters common in text written in it); ties go to the earlier entry.
CANDIDATES: tuple[tuple[str, frozenset[str]], ...] = (
    ("gb18030", frozenset(_ZH_HANS + _CJK_PUNCT)),
    ("cp932", frozenset(_KANA + _JA_KANJI + _CJK_PUNCT)),
    ("cp949", frozenset(_KO + _JAMO + _CJK_PUNCT)),
    ("cp950", frozenset(_ZH_HANT + _CJK_PUNCT)),
    ("euc_jp", frozenset(_KANA + _JA_KANJI + _CJK_PUNCT)),
)
CYRILLIC = "cp1251"
# Letters cp1251 has: Russian, Ukrainian (і ї є ґ), Belarusian (ў), Serbian and Macedonian.
_CYR_LETTERS = frozenset("".join(chr(c) for c in range(0x0410, 0x0450))
                         + "ЁёІіЇїЄєҐґЎўЂђЈјЉљЊњЋћЏџЃѓЌќЅѕ")
_WORD = re.compile(r"[^\W\d_]+")
# Frequent letter pairs of Russian, Ukrainian and Bulgarian words (lower case).
_CYR_PAIRS = frozenset("""
ст но то на ен ов ни ра во ко ер по пр ос ор ет ал ре ли ол он ом та ел ле ес од ин ва ла ль ть ве
от ка ем ие ой де го ро те ти ож ил не ан ит ед до ви ат ый чт об ей вы ег мо ис ее бы тр ся ас ия
ки ло ам ми им ны за да ев ив ав из же че ча ят ещ ще ик ую ют ут ше ша жи ск сл св со се си ме ма
ди зн уд уж ри ру пе па бо бу бе гд гл дн жд ьк ьс ьн ющ яз яе хо ха ци це ые ых ым ыл эт щи чн
чи ши ак ек ок ум ук ус ун ур уп уч ям ях ял ян ая ое их ну нн мы мн кл кр кт сп см сн тв тк тн
ту ты хл хр чк чу шк шл шн шь юб юд яв яд бл бр вл вн вр вс вт гр дв др ду зв зд зи зо
лу лы лю мя ня ря тя бь вь дь зь мь нь пь рь сь ць ба га ги ге жа жу зу ку лж мл
мр пл пу са су уг ух фо фа шо юр
ві ін ні із ів ії їх її ій іл іт ік ім іс ід ді мі лі рі сі ті зі бі кі пі чі ці що як йо ьо
єм єт єю ає ує ої ай ий уй юй яй ею ґа ґе ґу ґр іх сх ця цю ою хі
ът ъл ър ъд ък ъм ън ъс ъв ъч ъщ ща щя шт
""".split())
# Western letters and punctuation cp1252 gives for real text.
_WESTERN = frozenset("".join(chr(c) for c in range(0xC0, 0x100) if c not in (0xD7, 0xF7))
                     + "\u0152\u0153\u0160\u0161\u017d\u017e\u0178\u2018\u2019\u201a\u201c\u201d\u201e"
                     + "\u2013\u2014\u2026\u2022\u20ac\u00a0\u00a1\u00bf\u00ab\u00bb\u00b0\u00b4\u00a9\u00ae")
_HIGH = re.compile(rb"[\x80-\xff]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# A byte below 0x30 is never the 2nd..4th byte of a character in these code pages: a
# character starts right after it.
_BOUNDARIES = [bytes([b]) for b in range(0x30)]


def decode_legacy(data: bytes) -> str:
    """``data`` (not UTF-8) as text in the code page whose decoding reads best."""
    codec = best_candidate(data)
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            # A stray bad byte in an otherwise clearly CJK/Cyrillic file: one U+FFFD beats mojibake.
            return data.decode(codec, "replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)


def pick_codec(data: bytes) -> str:
    """The code page :func:`decode_legacy` reads non-UTF-8 ``data`` in."""
    codec = best_candidate(data)
    if codec:
        return codec
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def best_candidate(data: bytes) -> str | None:
    """The best-scoring CJK or Cyrillic candidate when it reads as its language (score >=
    MIN_SCORE) better than cp1252 does; None for Western text."""
    pieces = _sample(data)
    western = _western_score(pieces)
    scores = [(codec, _cjk_score(pieces, codec, common)) for codec, common in CANDIDATES]
    scores.append((CYRILLIC, _cyrillic_score(pieces)))
    best, best_score = None, MIN_SCORE
    for codec, score in scores:
        if score > western and (score > best_score or (best is None and score == best_score)):
            best, best_score = codec, score
    return best


def _sample(data: bytes) -> list[bytes]:
    """Up to SAMPLE_BYTES of ``data`` around its high-bit bytes, each piece starting on a
    character boundary: scoring looks where the code pages differ, however late that is."""
    pieces: list[bytes] = []
    total = pos = 0
    while total < SAMPLE_BYTES:
        found = _HIGH.search(data, pos)
        if not found:
            break
        i = found.start()
        lo = max(pos, i - 256)
        start = max(data.rfind(b, lo, i) for b in _BOUNDARIES) + 1 or lo
        piece = data[start:i + PIECE_BYTES]
        pieces.append(piece)
        total += len(piece)
        pos = start + len(piece)
    return pieces


def _decoded(pieces: list[bytes], codec: str) -> str:
    out = []
    for piece in pieces:
        # final=False: a character cut at the piece's end is dropped, not an error
        out.append(codecs.getincrementaldecoder(codec)("replace").decode(piece, final=False))
    return "\n".join(out)


def _cjk_score(pieces: list[bytes], codec: str, common: frozenset[str]) -> float:
    text = _decoded(pieces, codec)
    high = [c for c in text if c > "\x7f"]
    if not high:
        return 0.0
    good = sum(c in common for c in high)
    bad = sum(c == "\ufffd" or "\ue000" <= c <= "\uf8ff" or "\x80" <= c <= "\x9f" for c in high)
    return (good - 2 * bad) / len(high)


def _cyrillic_score(pieces: list[bytes]) -> float:
    text = _decoded(pieces, CYRILLIC)
    high = sum(c > "\x7f" for c in text)
    if not high:
        return 0.0
    letters = pairs = frequent = 0
    for word in _WORD.findall(text):
        # only whole Cyrillic words: "Mьller" (Müller read as cp1251) is a Latin word
        if len(word) < 2 or not all(c in _CYR_LETTERS for c in word):
            continue
        lower = word.lower()
        letters += len(lower)
        pairs += len(lower) - 1
        frequent += sum(lower[i:i + 2] in _CYR_PAIRS for i in range(len(lower) - 1))
    # Letters in Cyrillic words, weighted by how many of their pairs are frequent: about
    # 0.75-0.9 for real text, 0.25 for letters in random order (another code page's bytes).
    good = letters * frequent / pairs if pairs else 0.0
    return (good - 2 * text.count("\ufffd")) / high


def _western_score(pieces: list[bytes]) -> float:
    text = _decoded(pieces, "latin-1" if any(_undefined_in_cp1252(p) for p in pieces) else "cp1252")
    runs = list(_NON_ASCII_RUN.finditer(text))
    total = sum(len(m.group()) for m in runs)
    if not total:
        return 0.0
    good = sum(sum(c in _WESTERN for c in m.group()) for m in runs if len(m.group()) <= 2 and not _whole_word(text, m))
    return good / total


def _whole_word(text: str, run: re.Match) -> bool:
    """Two accented letters making a word alone: Cyrillic "да" read as cp1252 ("äà"), never
    Western text (its accents sit inside words)."""
    start, end = run.span()
    return end - start == 2 and run.group().isalpha() and not (start and text[start - 1].isalpha()) \
        and not (end < len(text) and text[end].isalpha())


def _undefined_in_cp1252(piece: bytes) -> bool:
    return any(b in piece for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))
