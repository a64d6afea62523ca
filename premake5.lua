-- kit-app-template convention: build an app that loads the coptwin extension.
-- Use it from a kit-app-template checkout (it provides repo_build and repo_kit_tools):
-- copy config/coptwin.kit to source/apps/ and exts/coptwin to source/extensions/coptwin,
-- or point `root` at this repository as below.

-- Shared build scripts from repo_build package.
repo_build = require("omni/repo/build")

-- Repo root
root = repo_build.get_abs_path(".")

-- Kit-friendly tooling configuration (solution, extension discovery, apps).
kit = require("_repo/deps/repo_kit_tools/kit-template/premake5-kit")
kit.setup_all({ cppdialect = "C++17" })

-- Link the extension folder into the build so edits hot-reload; only Python, docs, data
-- and config are needed (the core and the Kit glue live in exts/coptwin/coptwin).
repo_build.prebuild_link {
    { "%{root}/exts/coptwin/config", "%{root}/_build/$platform/$config/exts/coptwin/config" },
    { "%{root}/exts/coptwin/coptwin", "%{root}/_build/$platform/$config/exts/coptwin/coptwin" },
    { "%{root}/exts/coptwin/data", "%{root}/_build/$platform/$config/exts/coptwin/data" },
    { "%{root}/exts/coptwin/docs", "%{root}/_build/$platform/$config/exts/coptwin/docs" },
}

-- Apps: for each app generate launch scripts and a project from its .kit file.
define_app("coptwin.kit")
