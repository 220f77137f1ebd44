package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/** Stand-in for Jenkins' @Library (pipeline-groovy-lib), so Jenkinsfiles compile under plain Groovy. */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
