// load.h - reads a configuration file in whichever syntax its name says
// (.yaml/.yml: YAML; anything else: Momentum) and compiles it.
#pragma once

#include "config/compile.h"

#include <memory>
#include <string>

namespace mtatls::config {

bool is_yaml_path(const std::string& path);

bool read_document(const std::string& path, Document& document, Diagnostics& diagnostics);

std::shared_ptr<const Config> load_config(const std::string& path, Diagnostics& diagnostics,
                                          const CompileOptions& options = {});

} // namespace mtatls::config
