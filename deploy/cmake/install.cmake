# `cmake --install BUILD [--prefix PREFIX]`: a working magnesium-cds on the PATH.
#   bin/magnesium-cds                          the service (rule set and schemas embedded)
#   share/magnesium-cds/rules/                 the bundled rule set and its JSON Schema, to
#                                              copy, edit and pass with --rules
#   share/magnesium-cds/trust/                 trusted key sets for --trust (the CDS Hooks
#                                              sandbox's, for interoperability testing only)
#   share/man/man1/magnesium-cds.1             the manual page
# Test material (fixtures, the sandbox's published private key) is never installed.
include(GNUInstallDirs)
set(cds_install_data_dir ${CMAKE_INSTALL_DATADIR}/magnesium-cds)
install(TARGETS magnesium-cds RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/rules/config/magnesium-rules.json
              ${PROJECT_SOURCE_DIR}/rules/config/rule-set.schema.json
        DESTINATION ${cds_install_data_dir}/rules)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/trust/cds-hooks-sandbox-jwks.json
              ${PROJECT_SOURCE_DIR}/deploy/trust/README.md
        DESTINATION ${cds_install_data_dir}/trust)
install(FILES ${PROJECT_SOURCE_DIR}/service/magnesium-cds.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
