-- kit-app-template build script of the coptwin extension (source/extensions/coptwin/).
-- project_ext() links config/ into the build and generates the tests-coptwin script that
-- `./repo.sh test` runs (without this file the extension's tests are never run there).
-- The other folders are linked, not copied, so edits apply without a rebuild.
local ext = get_current_extension_info()

project_ext (ext)

repo_build.prebuild_link {
    { "coptwin", ext.target_dir.."/coptwin" },   -- the Kit glue and the Kit-free core
    { "data", ext.target_dir.."/data" },
    { "docs", ext.target_dir.."/docs" },
}

-- Offline sites: wheels pre-bundled for omni.kit.pipapi (docs/install-omniverse.md).
if os.isdir(get_current_lua_file_dir().."/pip_archive") then
    repo_build.prebuild_link { { "pip_archive", ext.target_dir.."/pip_archive" } }
end
