// load.cpp - choose a reader by file name, then compile.
#include "config/load.h"

#include "config/momentum_reader.h"
#include "config/yaml_reader.h"

namespace mtatls::config {

bool is_yaml_path(const std::string& path) {
    const std::string lower = lowercase(path);
    return lower.ends_with(".yaml") || lower.ends_with(".yml");
}

bool read_document(const std::string& path, Document& document, Diagnostics& diagnostics) {
    try {
        return is_yaml_path(path) ? read_yaml_file(path, document, diagnostics)
                                  : read_momentum_file(path, document, diagnostics);
    } catch (const std::exception& e) {
        diagnostics.error(path, {}, "", std::string("cannot read the configuration: ") + e.what());
        return false;
    }
}

std::shared_ptr<const Config> load_config(const std::string& path, Diagnostics& diagnostics,
                                          const CompileOptions& options) {
    Document document;
    if (!read_document(path, document, diagnostics)) return nullptr;
    return compile(document, diagnostics, options);
}

} // namespace mtatls::config
