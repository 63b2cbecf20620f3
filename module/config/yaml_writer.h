// yaml_writer.h - writes a compiled configuration in the native YAML form
// (what `mtatls-config convert` prints).  Paths come out absolute and
// values canonical, so the result means the same wherever it is stored.
#pragma once

#include "config/policy.h"

#include <string>

namespace mtatls::config {

std::string to_yaml(const Config& config, const std::string& source_name);

} // namespace mtatls::config
