// Minimal offline test runner (Groovy 2.4.21): every public void test*() method of every test/*Test.groovy
// class runs on a fresh instance. Prints PASS/FAIL per test and a final "N passed, M failed" line.
File testDir = new File(getClass().protectionDomain.codeSource.location.toURI()).parentFile
System.setProperty('slackim.lib.dir', testDir.parentFile.canonicalPath)
GroovyClassLoader loader = new GroovyClassLoader(getClass().classLoader)
loader.addClasspath(new File(testDir, 'lib').canonicalPath)
loader.addClasspath(testDir.canonicalPath)

String only = args.length > 0 ? args[0] : null
int passed = 0
List<String> failures = []
List<File> files = testDir.listFiles().findAll { it.name.endsWith('Test.groovy') }.sort { it.name }
for (File f : files) {
    Class cls = loader.parseClass(f)
    List methods = cls.declaredMethods.findAll { it.name.startsWith('test') && it.parameterTypes.length == 0 }.sort { it.name }
    for (def m : methods) {
        String name = "${cls.simpleName}.${m.name}"
        if (only && !name.contains(only)) {
            continue
        }
        try {
            m.invoke(cls.newInstance())
            passed++
            println "PASS ${name}"
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable t = e.targetException
            failures << name
            println "FAIL ${name}\n${t.class.name}: ${t.message}"
            t.stackTrace.findAll { it.fileName?.endsWith('.groovy') }.take(6).each { println "    at ${it}" }
        }
    }
}
println "${passed} passed, ${failures.size()} failed"
System.exit(failures ? 1 : 0)
