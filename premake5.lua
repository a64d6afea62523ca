-- coptwin in a kit-app-template checkout: the lines below go into the template's root
-- premake5.lua, after `kit.setup_all(...)` (docs/install-omniverse.md, section 3).
-- The extension builds itself from source/extensions/coptwin/premake5.lua (project_ext),
-- and the app must also be listed in repo.toml's [repo_precache_exts] apps.
-- This file is not run from this repository; it is the snippet, kept where it is tested.

-- The app (source/apps/coptwin.kit, a copy of config/coptwin.kit):
define_app("coptwin.kit")

-- Optional, instead of copying exts/coptwin into source/extensions: link this checkout's
-- folder into the build (premake tokens: %{root}, %{platform}, %{config}).  Then no
-- tests-coptwin script is generated: run the tests from the Extension Manager instead.
-- repo_build.prebuild_link {
--     { "C:/work/coptwin/exts/coptwin", "%{root}/_build/%{platform}/%{config}/exts/coptwin" },
-- }
