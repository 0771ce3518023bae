// Modified UTF-7 (RFC 3501 §5.1.3): how IMAP4rev1 spells non-ASCII mailbox names.
//
//   printable US-ASCII (0x20-0x7e) stands for itself, except "&", written "&-";
//   anything else is UTF-16BE in modified base64 (RFC 2152 with ',' for '/'),
//   unpadded, between "&" and "-".
//
// Decoding is strict (catalogue row 39): raw 8-bit or control bytes, bad base64,
// non-zero pad bits, broken surrogate pairs, U+0000, printable ASCII hidden in a
// shift ("&AGEAYgBj-" for "abc", "&AC4ALg-" for "..") and split shifts are all
// refused, because a name must have exactly one spelling.  The rule that
// enforces the last three: the decoded name must re-encode to the input.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace maillab::net::imap {

// mUTF-7 -> UTF-8; nullopt for anything not in canonical form.
std::optional<std::string> mutf7_decode(std::string_view text);
// UTF-8 -> mUTF-7; nullopt for invalid UTF-8 or U+0000.
std::optional<std::string> mutf7_encode(std::string_view utf8);

}  // namespace maillab::net::imap
