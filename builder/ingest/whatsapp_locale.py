"""Localized strings of WhatsApp exports: chat-file prefixes, AM/PM words and the
placeholder bodies that mark media, deleted messages and system events.

Everything here is data. whatsapp_header.py and whatsapp.py turn it into regexes once per
process. Matching is case-insensitive and done on a body with invisible marks removed and
surrounding whitespace stripped, so entries are written in plain lower case without LRMs.
Sources: CHAT_FORMATS.md §1.5-1.7 (hand-kept, below) merged with WhatsApp's own localized
UI strings for every language the apps ship (whatsapp_locale_data.py, generated; see
tests/fixtures/SOURCES.md)."""

from __future__ import annotations

import re

from builder.ingest import whatsapp_locale_data as _gen

# Prefixes of exported file / zip names, before the chat title (CHAT_FORMATS.md §1.1).
# Underscore variants come from tools that replace spaces; NBSP occurs in cs / ru names.
CHAT_NAME_PREFIXES: tuple[str, ...] = (
    "WhatsApp Chat with ",
    "WhatsApp Chat - ",
    "WhatsApp Chat mit ",
    "WhatsApp-Chat mit ",
    "WhatsApp Chat met ",
    "WhatsApp-chat met ",
    "WhatsApp Chat: ",
    "Chat de WhatsApp con ",
    "Chat WhatsApp con ",
    "Chat di WhatsApp con ",
    "Conversa do WhatsApp com ",
    "Conversa no WhatsApp com ",
    "Discussion WhatsApp avec ",
    "Чат WhatsApp с ",
    "Чат WhatsApp з ",
    "Chat WhatsApp s uživatelem ",
    "Chat WhatsApp s ",
    "WhatsApp Sohbeti: ",
    "Czat WhatsApp z ",
    "WhatsApp-chatt med ",
    "WhatsApp-chat med ",
    "Obrolan WhatsApp dengan ",
    "Chat WhatsApp dengan ",
    "Cuộc trò chuyện WhatsApp với ",
    "WhatsApp Chat ",
)

# Meridiem words, as written after (or, in zh/ja/ko, before) the time. Keys are compared
# after lower-casing and removing spaces and dots, so "p. m.", "p.m." and "PM" are one key.
AM_WORDS: tuple[str, ...] = (
    "am", "a.m.", "a. m.", "vorm.", "fm", "f.m.", "vm.", "v.m.", "de.", "ap.", "dop.",
    "öö", "sa", "π.μ.", "πμ", "ص", "ق.ظ", "午前", "上午", "오전", "ก่อนเที่ยง", "पूर्वाह्न",
)
PM_WORDS: tuple[str, ...] = (
    "pm", "p.m.", "p. m.", "nachm.", "em", "e.m.", "nm.", "n.m.", "du.", "ip.", "odp.",
    "ös", "ch", "μ.μ.", "μμ", "م", "ب.ظ", "午後", "下午", "오후", "หลังเที่ยง", "अपराह्न",
)


def meridiem_key(word: str) -> str:
    """The comparison key of a meridiem word: lower case, no spaces or dots."""
    return re.sub(r"[\s.\u00a0\u202f]", "", word.lower())


PM_KEYS: frozenset[str] = frozenset(meridiem_key(w) for w in PM_WORDS)


def meridiem_regex(space: str) -> str:
    """An alternation of every AM/PM word; dots optional, inner spaces optional and of any
    kind (``space`` is the regex of one space-like character). Longest words first."""
    alts = []
    for word in sorted(set(AM_WORDS + PM_WORDS), key=len, reverse=True):
        parts = []
        for ch in word:
            if ch == " ":
                parts.append(f"{space}?")
            elif ch == ".":
                parts.append(r"\.?")
            else:
                parts.append(re.escape(ch))
        alts.append("".join(parts))
    return "(?i:" + "|".join(alts) + ")"


# Android "<Media omitted>" bodies (export without media), lower case, without <>.
MEDIA_OMITTED: tuple[str, ...] = (
    "media omitted", "image omitted", "video omitted", "audio omitted", "gif omitted",
    "sticker omitted", "document omitted", "medien ausgeschlossen", "medien weggelassen",
    "multimedia omitido", "archivo omitido", "imagen omitida", "video omitido", "audio omitido",
    "médias omis", "fichier omis", "media omessi", "media omesso", "mídia omitida",
    "arquivo de mídia oculto", "ficheiro não revelado", "média vynechány", "média vynechána",
    "médiá vynechané", "без медиафайлов", "файл пропущен", "медіа пропущено", "media weggelaten",
    "media weggelaat", "media tidak disertakan", "media dikecualikan", "medya dahil edilmedi",
    "medya atlanmış", "pominięto multimedia", "pliki pominięto", "medier udeladt",
    "mediefil udeladt", "media utelatt", "uten vedlegg", "media utelämnat", "media har utelämnats",
    "media jätettiin pois", "media jätetty pois", "média elhagyva", "hiányzó médiafájl",
    "conținut media omis", "medijski zapis izostavljen", "datoteke izpuščene", "medij izpuščen",
    "αρχείο παραλήφθηκε", "εξαίρεση πολυμέσων", "без файл", "без файлови", "медији су изостављени",
    "תמונה הושמטה", "המדיה לא נכללה", "מדיה הושמטה", "تم استبعاد الوسائط", "رسانه حذف شد",
    "میڈیا چھوڑ دیا گیا", "मीडिया के बिना", "मीडिया वगळले", "মিডিয়া বাদ দেওয়া হয়েছে",
    "கோப்புகள் விடப்பட்டன", "మీడియా విస్మరించబడింది", "ಮಾಧ್ಯಮ ಕೈಬಿಡಲಾಗಿದೆ", "മീഡിയ ഒഴിവാക്കി",
    "ไฟล์สื่อถูกลบ", "สื่อถูกลบ", "bỏ qua tệp phương tiện", "bỏ qua media", "メディアなし",
    "メディアは含まれていません", "미디어 파일 제외됨", "미디어 파일을 생략한 대화내용",
    "忽略多媒體檔", "省略多媒体文件", "media hazijajumuishwa", "fitxers multimèdia omesos",
    "mitjans omesos", "meedia välja jäetud", "medija praleista", "nav iekļauta multivide",
    "ບໍ່ລວມມີເດຍ",  # lo (chat-analytics WhatsApp.ts; one word, so no bracket signal)
)

# iOS "<type> omitted" bodies (no brackets; a document line is "<name> document omitted").
IOS_OMITTED: tuple[str, ...] = (
    "image omitted", "video omitted", "audio omitted", "sticker omitted", "gif omitted",
    "document omitted", "contact card omitted", "bild weggelassen", "video weggelassen",
    "audio weggelassen", "sticker weggelassen", "gif weggelassen", "dokument weggelassen",
    "kontaktkarte weggelassen", "imagen omitida", "video omitido", "audio omitido",
    "sticker omitido", "gif omitido", "documento omitido", "tarjeta de contacto omitida",
    "image absente", "vidéo absente", "audio omis", "autocollant omis", "gif retiré",
    "document omis", "fiche contact omise", "immagine omessa", "video omesso", "audio omesso",
    "sticker omesso", "gif omessa", "documento omesso", "imagem não revelada",
    "imagem ocultada", "vídeo ocultado", "áudio ocultado", "figurinha omitida",
    "documento ocultado", "afbeelding weggelaten", "video weggelaten", "audio weggelaten",
    "obrázek vynechán", "video vynecháno", "zvuk vynechán", "изображение отсутствует",
    "видео отсутствует", "аудио отсутствует", "стикер отсутствует", "документ отсутствует",
    "зображення відсутнє", "gambar tidak disertakan", "video tidak disertakan",
    "audio tidak disertakan", "stiker tidak disertakan", "đã bỏ qua hình ảnh",
    "đã bỏ qua video", "画像は含まれていません", "動画は含まれていません", "ไม่มีรูปภาพ",
    "फ़ोटो हटाई गई", "لم يتم إدراج الصورة", "görüntü dahil edilmedi", "obraz pominięty",
)

# Localized "attached" words: iOS "<attached: FILE>" and Android "FILE (file attached)".
ATTACHED_WORDS: tuple[str, ...] = (
    "attached", "file attached", "anhang", "angehängt", "datei angehängt", "adjunto", "archivo adjunto",
    "fichier joint", "pièce jointe", "allegato", "file allegato", "anexo", "arquivo anexado",
    "ficheiro anexado", "bijlage", "bestand bijgevoegd", "soubor byl přiložen", "příloha",
    "файл добавлен", "вложение", "файл додано", "lampiran", "file terlampir", "ekli", "dosya ekli",
    "załącznik", "plik załączony", "bilaga", "fil bifogad", "vedhæftet", "fil vedhæftet", "liite",
    "tệp đính kèm", "添付", "ファイル添付", "附件", "첨부", "المُرفق", "المرفق", "ملف مرفق",
    "קובץ מצורף", "συνημμένο", "csatolva", "atașat", "fișier atașat",
)

# Deleted-message bodies (Android without, iOS with, a final period).
DELETED: tuple[str, ...] = (
    "this message was deleted", "you deleted this message", "this message was deleted by admin",
    "se eliminó este mensaje", "eliminaste este mensaje", "este mensaje fue eliminado",
    "esta mensagem foi apagada", "apagou esta mensagem", "você apagou esta mensagem",
    "mensagem apagada", "diese nachricht wurde gelöscht", "du hast diese nachricht gelöscht",
    "ce message a été supprimé", "vous avez supprimé ce message", "questo messaggio è stato eliminato",
    "hai eliminato questo messaggio", "dit bericht is verwijderd", "je hebt dit bericht verwijderd",
    "u hebt dit bericht verwijderd", "tato zpráva byla odstraněna", "odstranili jste tuto zprávu",
    "данное сообщение удалено", "вы удалили данное сообщение", "это сообщение удалено",
    "це повідомлення видалено", "ви видалили це повідомлення", "pesan ini telah dihapus",
    "anda menghapus pesan ini", "bu mesaj silindi", "bu mesajı sildiniz",
    "ta wiadomość została usunięta", "usunięto tę wiadomość", "tin nhắn này đã bị xóa",
    "bạn đã xóa tin nhắn này", "このメッセージは削除されました", "メッセージを削除しました",
    "此消息已删除", "你删除了此消息", "此訊息已刪除", "你已刪除此訊息", "메시지가 삭제되었습니다",
    "تم حذف هذه الرسالة", "لقد حذفت هذه الرسالة", "denna meddelande har raderats",
    "det här meddelandet har raderats", "du raderade det här meddelandet",
    "denne besked blev slettet", "du slettede denne besked", "denne meldingen ble slettet",
    "tämä viesti poistettiin", "poistit tämän viestin", "ez az üzenet törölve lett",
    "acest mesaj a fost șters", "το μήνυμα αυτό διαγράφηκε", "ההודעה הזו נמחקה",
)

# Event texts that appear as bodies with an author (iOS, old Android group notices, calls):
# matched at the start of the body. Android events without an author need no table.
SYSTEM_PREFIXES: tuple[str, ...] = (
    "messages and calls are end-to-end encrypted",
    "messages to this group are now secured with end-to-end encryption",
    "messages to this chat and calls are now secured with end-to-end encryption",
    "messages you send to this group are now secured with end-to-end encryption",
    "messages you send to this chat and calls are now secured with end-to-end encryption",
    "your security code with",
    "nachrichten und anrufe sind ende-zu-ende-verschlüsselt",
    "los mensajes y las llamadas están cifrados de extremo a extremo",
    "les messages et les appels sont chiffrés de bout en bout",
    "les messages envoyés dans cette discussion",
    "i messaggi e le chiamate sono crittografati end-to-end",
    "as mensagens e chamadas são encriptadas ponto a ponto",
    "as mensagens e as chamadas são protegidas com a criptografia de ponta a ponta",
    "berichten en oproepen worden end-to-end versleuteld",
    "zprávy a hovory jsou zabezpečeny koncovým šifrováním",
    "сообщения и звонки защищены сквозным шифрованием",
    "повідомлення та дзвінки захищені наскрізним шифруванням",
    "pesan dan panggilan terenkripsi secara end-to-end",
    "mesajlar ve aramalar uçtan uca şifrelidir",
    "wiadomości i połączenia są szyfrowane end-to-end",
    "tin nhắn và cuộc gọi được mã hóa đầu cuối",
    "メッセージと通話はエンドツーエンド暗号化されています",
    "消息和通话已进行端到端加密",
    "메시지와 전화는 종단간 암호화되어 보호됩니다",
    "الرسائل والمكالمات مشفرة تمامًا بين الطرفين",
)

# Complete bodies of call notices (attributed to a person on Android).
MISSED_CALLS: tuple[str, ...] = (
    "missed voice call", "missed video call", "missed group voice call", "missed group video call",
)

# "<This message was edited>" appended to an edited body; removed from the text.
EDITED: tuple[str, ...] = (
    "this message was edited", "este mensaje fue editado", "diese nachricht wurde bearbeitet",
    "ce message a été modifié", "questo messaggio è stato modificato", "esta mensagem foi editada",
    "dit bericht is bewerkt", "tato zpráva byla upravena", "сообщение изменено",
    "pesan ini telah diedit", "bu mesaj düzenlendi",
)

# Location bodies ("location: https://...", iOS "Location: https://..."): counted as media.
LOCATION_WORDS: tuple[str, ...] = (
    "location", "live location", "poloha", "местоположение", "standort", "ubicación",
    "localização", "localizzazione", "posizione", "position", "locatie", "lokalizacja", "konum",
    "lokasi", "vị trí", "位置", "位置情報", "위치", "الموقع",
)


# The generated tables of WhatsApp's own strings, merged in (hand-kept entries first: the
# English system prefixes lead SYSTEM_PREFIXES, which the prefilter relies on).
COMMON_SYSTEM_PREFIXES: tuple[str, ...] = SYSTEM_PREFIXES[:6]
MEDIA_OMITTED = MEDIA_OMITTED + _gen.ANDROID_MEDIA_OMITTED
IOS_OMITTED = IOS_OMITTED + _gen.IOS_OMITTED
ATTACHED_WORDS = ATTACHED_WORDS + _gen.ANDROID_ATTACHED
IOS_ATTACHED_TEMPLATES: tuple[str, ...] = _gen.IOS_ATTACHED_TEMPLATES
DELETED = DELETED + _gen.DELETED
DELETED_TEMPLATES: tuple[str, ...] = _gen.DELETED_TEMPLATES
LOCATION_WORDS = LOCATION_WORDS + _gen.LOCATION_WORDS
LIVE_LOCATION: tuple[str, ...] = ("live location shared",) + _gen.LIVE_LOCATION
# Generated event texts: long notices are matched as prefixes, short ones (missed calls)
# only as whole bodies ("Appel vocal manqué" is an event, "Appel vocal manqué, rappelle" is not).
SYSTEM_PREFIXES = SYSTEM_PREFIXES + tuple(p for p in _gen.SYSTEM_PREFIXES if len(p) >= 40)
MISSED_CALLS = MISSED_CALLS + tuple(p for p in _gen.SYSTEM_PREFIXES if len(p) < 40)
SYSTEM_TEMPLATES: tuple[str, ...] = _gen.SYSTEM_TEMPLATES


def alternation(words: tuple[str, ...]) -> str:
    """Case-insensitive regex alternation of literal words, longest first."""
    return "(?i:" + "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)) + ")"
