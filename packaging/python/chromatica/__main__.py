from chromatica import main

main()
