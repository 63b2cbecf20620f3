// document.cpp - names of stanza kinds.
#include "config/document.h"

namespace mtatls::config {

const char* keyword(StanzaKind kind) {
    switch (kind) {
    case StanzaKind::global: return "global";
    case StanzaKind::binding_group: return "binding_group";
    case StanzaKind::binding: return "binding";
    case StanzaKind::domain: return "domain";
    }
    return "?";
}

} // namespace mtatls::config
